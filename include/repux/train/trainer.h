#pragma once
// The trainer (SPEC 3): AdamW, Dice + CE, background workers that prepare batches ahead into a
// bounded queue, validation by sliding window every N iterations (mean and per-class Dice), the
// best model and the latest checkpoint written atomically, and exact resume: model, optimiser,
// iteration, best score and the sampler (batches are drawn from per-iteration seeds).
#include "repux/data/preprocess.h"
#include "repux/data/sampler.h"
#include "repux/nn/segmenter.h"

#include <string>
#include <vector>

namespace repux {

struct TrainOptions {
  std::string dataset;      // dataset JSON or folder
  std::string data_root;    // base for relative paths (default: the JSON's folder)
  std::string output_dir;   // checkpoint.pt, best.repux, last.repux, metrics.csv, training.png
  int folds = 5, fold = 0;  // used when the dataset has no validation list
  NetworkConfig network;
  PreprocessRecipe preprocessing;
  SamplerOptions sampler;
  std::vector<std::string> class_names;  // default: the dataset's labels, else class1..
  std::string init_model;   // optional: start from this model file (fine-tuning); head replaced if classes differ
  int64_t iterations = 60000;
  int64_t validate_every = 500;
  int64_t log_every = 10;
  double learning_rate = 1e-4, weight_decay = 0.01;
  std::string schedule = "none";  // "none", "cosine" or "poly"
  int64_t warmup = 0;
  double grad_clip = 0;  // 0: off
  double validation_overlap = 0.25;
  uint64_t seed = 0;
  int workers = 1;
  int queue_size = 4;
  std::string device = "cpu";
  // Data-parallel (when launched with torchrun's variables, e.g. by `repux launch`): each rank trains
  // on its own batches, gradients are averaged; "" backend = gloo on cpu, nccl on cuda.
  std::string dist_backend;
  bool sync_batch_norm = false;     // BatchNorm statistics over all ranks (else each rank's own)
  double dist_timeout_seconds = 300;  // a dead or hung rank stops the others with an error after this
  std::string precision = "fp32";  // "bf16": autocast forward and loss (SPEC: FFT path stays float32)
  bool resume = false;
  bool overwrite = false;  // replace a previous run in output_dir (else refused unless resuming)
  bool quiet = false;
};

struct TrainResult {
  int world_size = 1;
  double best_dice = 0;
  int64_t best_iteration = 0;
  std::vector<double> best_per_class;
  double iterations_per_second = 0;
  double data_wait_fraction = 0;
  int64_t peak_gpu_bytes = 0;  // on CUDA: max allocated during the run (this process)
};

// Checks every setting against its range and known names; throws repux::Error naming the first bad
// one. train() calls it before reading any data; the command line calls it as soon as it has parsed.
void check_train_options(const TrainOptions& options);

TrainResult train(const TrainOptions& options);

// Reads the dataset, checks every training and validation case, and returns the problems.
std::vector<std::string> check_training_data(const TrainOptions& options, int64_t classes);

}  // namespace repux
