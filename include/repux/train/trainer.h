#pragma once
// The trainer: the plan's recipe (AdamW, or nnU-Net's SGD) on Dice + CE, batches from a data source drawn ahead by background workers,
// validation with the Plan's inference settings every N iterations, the best and the last model and
// a checkpoint written atomically, exact resume (model, optimiser, iteration, best score; batches are
// drawn from per-iteration seeds), and data-parallel training over the ranks of a launch. Its parts,
// each usable alone: TrainingStep (training_step.h), Validator (validator.h), the checkpoint
// (checkpoint.h), TrainingDataSource (data_source.h), LrSchedule (lr_schedule.h) and observers such
// as the RunLog (run_log.h). train() puts them together.
#include "repux/data/sampler.h"
#include "repux/dist/communicator.h"
#include "repux/dist/gradient_reducer.h"
#include "repux/eval/evaluation_summary.h"
#include "repux/model/plan.h"
#include "repux/nn/autocast.h"
#include "repux/train/lr_schedule.h"
#include "repux/train/observer.h"
#include "repux/train/recipe.h"

#include <optional>
#include <string>
#include <vector>

namespace repux {

struct TrainOptions {
  // A dataset JSON or folder, preprocessed into output_dir/preprocessed/ first (cases finished by an
  // earlier run are kept), or a case store made by `repux preprocess` (repux/data/case_store.h).
  std::string dataset;
  std::string data_root;    // base for relative paths (default: the JSON's folder)
  std::string output_dir;   // checkpoint.pt, best.repux, last.repux, metrics.csv, training.png
  // The fold validated (kAllFolds: every case trained) when the dataset has no validation list; the folds
  // come from splits_final.json, or are nnU-Net's (repux/data/splits.h), `folds` of them.
  int folds = 5, fold = 0;
  Plan plan;                // network, preprocessing, patch, class names (empty: the dataset's), inference
  // From a store: false takes the store's recipe; true (the user chose one) refuses a store made otherwise.
  bool preprocessing_given = false;
  int preprocess_threads = 0;  // cases preprocessed at once; 0: one per core
  SamplerOptions sampler;
  std::string init_model;   // optional: start from this model file (fine-tuning); head replaced if classes differ
  int64_t iterations = 60000;
  int64_t validate_every = recipe_defaults(Recipe::Repux).validate_every;
  // The optimiser is the plan's recipe's (plan.training); these default to the repux recipe's values.
  double learning_rate = recipe_defaults(Recipe::Repux).learning_rate, weight_decay = recipe_defaults(Recipe::Repux).weight_decay;
  Schedule schedule = recipe_defaults(Recipe::Repux).schedule;
  int64_t warmup = recipe_defaults(Recipe::Repux).warmup;
  double grad_clip = 0;  // 0: off
  uint64_t seed = 0;
  int workers = 1;
  int queue_size = 4;
  torch::Device device = torch::kCPU;
  torch::Device augment_device = torch::kCPU;  // where the data workers augment (crops are read on the CPU)
  Precision precision = Precision::Float32;  // bf16: autocast forward and loss; the FFT convolutions stay float32
  // Data-parallel: where this process stands (the command line reads torchrun's variables); each
  // rank trains on its own batches and the gradients are averaged. "" backend: gloo on cpu, nccl on cuda.
  LaunchEnvironment where;
  std::string dist_backend;
  bool sync_batch_norm = false;       // BatchNorm statistics over all ranks (else each rank's own)
  GradientSync gradient_sync = GradientSync::Overlapped;  // gradients all-reduced during backward, or after it
  double dist_timeout_seconds = 300;  // a dead or hung rank stops the others with an error after this
  bool final_validation = true;  // after training: validation/ predicted with the last model, summary.json, report.html
  bool resume = false;
  bool overwrite = false;  // replace a previous run in output_dir (else refused unless resuming)
};

struct TrainResult {
  int world_size = 1;
  double best_dice = 0;
  int64_t best_iteration = 0;
  std::vector<double> best_per_class;
  double iterations_per_second = 0;
  double data_wait_fraction = 0;
  double gradient_wait_fraction = 0;  // share of the step time spent waiting on the gradient all-reduce
  int64_t peak_gpu_bytes = 0;  // on CUDA: max allocated during the run (this process)
  std::optional<EvaluationSummary> final_validation;  // the validation cases scored after training (main rank)
};

// Checks every setting against its range; throws repux::Error naming the first bad one. train()
// calls it before reading any data; the command line calls it as soon as it has parsed.
void check_train_options(const TrainOptions& options);

// `observers` hear of the run on the main rank (the run log is added by train() itself).
TrainResult train(const TrainOptions& options, const std::vector<TrainingObserver*>& observers = {});

// The names train() writes in the output folder.
// Besides these: the run log's metrics.csv and training.png (run_log.h), and after training the final
// validation's validation/ and report.html (final_validation.h).
struct TrainOutputs {
  static std::string store() { return "preprocessed"; }
  static std::string plan() { return "plan.json"; }        // the Plan trained with
  static std::string dataset() { return "dataset.json"; }  // classes, channels, cases, and where they came from
  static std::string split() { return "split.json"; }      // {"fold", "train": [ids], "val": [ids]}
  static std::string log() { return "log.txt"; }           // what the command line printed (written by it)
  static std::string checkpoint() { return "checkpoint.pt"; }
  static std::string best_model() { return "best.repux"; }
  static std::string last_model() { return "last.repux"; }
};

}  // namespace repux
