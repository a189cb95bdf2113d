#include "repux/train/trainer.h"

#include "repux/data/case_store.h"
#include "repux/data/dataset.h"
#include "repux/data/splits.h"
#include "repux/device_memory.h"
#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/json_file.h"
#include "repux/model/model_file.h"
#include "repux/nn/deep_heads.h"
#include "repux/nn/state_dict.h"
#include "repux/train/checkpoint.h"
#include "repux/train/data_source.h"
#include "repux/train/final_validation.h"
#include "repux/train/run_log.h"
#include "repux/train/training_step.h"
#include "repux/train/validator.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>
#include <tuple>

namespace fs = std::filesystem;

namespace repux {
namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
std::string in_output(const TrainOptions& o, const std::string& name) { return (fs::path(o.output_dir) / name).string(); }

// One GPU per local rank, as torchrun users expect, unless the device names one.
torch::Device rank_device(const TrainOptions& o) {
  if (o.device.is_cuda() && !o.device.has_index() && o.where.world_size > 1) {
    return torch::Device(torch::kCUDA, static_cast<int8_t>(o.where.local_rank));
  }
  return o.device;
}

// The dataset, every case checked (all problems counted, the first named).
Dataset load_checked_dataset(const TrainOptions& o) {
  Dataset dataset = load_dataset(o.dataset, o.data_root);
  const auto problems = check_dataset(dataset, label_classes(o.plan));
  if (!problems.empty()) {
    fail("{} problem(s) in the dataset, first: {}: {} (run `repux check-dataset` for all)", problems.size(), problems.front().file,
         problems.front().problem);
  }
  return dataset;
}

// A raw dataset is preprocessed into the output folder's store (by the main rank, before the others
// connect); a store is used as it is. Returns the store's folder and how many cases were preprocessed.
std::pair<std::string, size_t> prepare_store(const TrainOptions& o, bool main_rank) {
  if (is_case_store(o.dataset)) return {o.dataset, 0};
  const std::string dir = in_output(o, TrainOutputs::store());
  if (!main_rank) return {dir, 0};
  PreprocessToStoreOptions po;
  po.threads = o.preprocess_threads > 0 ? o.preprocess_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  po.overwrite = o.overwrite;
  const PreprocessSummary s = preprocess_to_store(load_checked_dataset(o), o.plan.preprocessing, label_classes(o.plan), dir, po);
  return {dir, s.preprocessed};
}

// The store's recipe and classes must be the plan's; without a recipe from the user the store's is taken.
void adopt_store_recipe(TrainOptions& o, const CaseStore& store) {
  if (store.classes() != label_classes(o.plan)) {
    fail("{}: made for {} classes, the network has {} (--classes)", store.folder(), store.classes(), label_classes(o.plan));
  }
  if (o.preprocessing_given && to_json(o.plan.preprocessing) != to_json(store.recipe())) {
    fail("{}: preprocessed with recipe {}, but this run asks for {}; train without preprocessing options to use the store's", store.folder(),
         to_json(store.recipe()).dump(), to_json(o.plan.preprocessing).dump());
  }
  o.plan.preprocessing = store.recipe();
}

std::vector<size_t> store_indices(const CaseStore& store, const std::vector<CaseFiles>& cases) {
  std::vector<size_t> out;
  for (const auto& c : cases) out.push_back(store.find(c.image));
  return out;
}

// splits_final.json beside the dataset (its folder, or the JSON's), else in the store; "" when neither has one.
std::string existing_splits(const TrainOptions& o, const CaseStore& store) {
  const fs::path dataset(o.dataset);
  for (const fs::path& dir : {fs::is_directory(dataset) ? dataset : dataset.parent_path(), fs::path(store.folder())}) {
    if (fs::exists(dir / splits_file_name())) return (dir / splits_file_name()).string();
  }
  return "";
}

// The training and validation cases: the dataset's own validation list (unless --fold all); else the
// fold of an existing splits_final.json; else of nnU-Net's folds, made now and written to the store.
Dataset fold_of(const TrainOptions& o, const CaseStore& store, bool main_rank) {
  const Dataset& d = store.dataset();
  if (!d.validation.empty() && o.fold != kAllFolds) return d;
  std::string source = existing_splits(o, store);
  Splits splits;
  if (!source.empty()) {
    splits = read_splits(source);
  } else if (o.fold != kAllFolds) {
    std::vector<std::string> ids;
    for (const auto& c : d.training) ids.push_back(case_identifier(c));
    splits = make_splits(ids, o.folds);
    source = (fs::path(store.folder()) / splits_file_name()).string();
    if (main_rank) write_splits(splits, source);
  }
  return dataset_for_fold(d, splits, o.fold, source);
}

// Class names: the user's, else the dataset's when they fit the number of classes, else defaults.
Plan plan_with_class_names(Plan plan, const Dataset& dataset) {
  if (plan.class_names.empty() && static_cast<int64_t>(dataset.class_names.size()) == plan.network.out_channels) {
    plan.class_names = dataset.class_names;
  }
  return resolved(plan);
}

nlohmann::json identifiers(const std::vector<CaseFiles>& cases) {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& c : cases) ids.push_back(case_identifier(c));
  return ids;
}

// What a reader of the run folder needs to know of it: the plan used, the dataset (classes, channels,
// cases) and the split (which cases trained, which validated).
void describe_run(const TrainOptions& o, const Dataset& d) {
  write_json_file(to_json(o.plan), in_output(o, TrainOutputs::plan()));
  // An ordered object: with regions, "regions_class_order" follows the order of "labels".
  nlohmann::ordered_json labels = nlohmann::ordered_json::object(), description;
  if (o.plan.regions.empty()) {
    for (size_t k = 0; k < o.plan.class_names.size(); ++k) labels[o.plan.class_names[k]] = k;
  } else {
    labels["background"] = 0;
    for (const auto& r : o.plan.regions.regions) labels[r.name] = r.values.size() == 1 ? nlohmann::ordered_json(r.values[0]) : nlohmann::ordered_json(r.values);
  }
  if (d.ignore_label) labels["ignore"] = *d.ignore_label;  // nnU-Net's spelling
  nlohmann::ordered_json channels = nlohmann::ordered_json::object();
  for (int64_t k = 0; k < o.plan.network.in_channels; ++k) channels[std::to_string(k)] = k < static_cast<int64_t>(d.channel_names.size()) ? d.channel_names[k] : "";
  description["source"] = o.dataset;
  description["channel_names"] = channels;
  description["labels"] = labels;
  if (!o.plan.regions.empty()) {
    for (const auto& r : o.plan.regions.regions) description["regions_class_order"].push_back(r.paints);
  }
  description["numTraining"] = d.training.size() + (o.fold == kAllFolds ? 0 : d.validation.size());
  write_file_atomically(in_output(o, TrainOutputs::dataset()), description.dump(2) + "\n");
  write_json_file({{"fold", o.fold == kAllFolds ? nlohmann::json("all") : nlohmann::json(o.fold)}, {"train", identifiers(d.training)}, {"val", identifiers(d.validation)}},
                  in_output(o, TrainOutputs::split()));
}

// A folder holding another run is not silently overwritten; files a killed run left half-written
// (temporary names) are removed.
void prepare_output_folder(const TrainOptions& o) {
  fs::create_directories(o.output_dir);
  if (!o.resume && !o.overwrite) {
    for (const std::string& name : {TrainOutputs::checkpoint(), TrainOutputs::best_model(), TrainOutputs::last_model(), RunLog::metrics_name()}) {
      if (fs::exists(in_output(o, name))) {
        fail("{}: holds a previous training run ({}); continue it with --resume, replace it with --overwrite, or choose another folder",
             o.output_dir, name);
      }
    }
  }
  remove_abandoned_temporaries(o.output_dir);
}

std::unique_ptr<Communicator> connect(const TrainOptions& o, const torch::Device& device) {
  if (o.where.world_size <= 1) return nullptr;
  CommunicatorOptions co;
  co.where = o.where;
  co.backend = o.dist_backend;
  co.device = device;
  co.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.dist_timeout_seconds * 1000));
  return std::make_unique<Communicator>(co);
}

// An output head's tensor: the final one (out., resenc.head.), nnU-Net's seg_layers, deep supervision's heads.
bool is_output_head(const std::string& key) {
  return key.rfind("out.", 0) == 0 || key.find("head.") != std::string::npos || is_deep_head_key(key) ||
         key.find("seg_layers.") != std::string::npos;
}

// A fresh network, or every weight of --init (fine-tuning). Output heads the init model has not in
// this shape (other classes) or not at all (deep supervision's, new to this run) start fresh; any other
// difference is an error of load_state_dict's, naming the tensor.
Segmenter build_network(const TrainOptions& o, const torch::Device& device) {
  torch::manual_seed(o.seed);
  Segmenter net = create_network(o.plan.network);
  if (!o.init_model.empty()) {
    LoadedModel init = load_model(o.init_model);
    std::map<std::string, torch::Tensor> from_init;
    for (auto& [key, value] : state_dict(init.net, KernelForm::Effective)) from_init.emplace(key, value);
    NamedTensors state;
    for (const auto& [key, value] : state_dict(net, KernelForm::Effective)) {
      const auto it = from_init.find(key);
      const bool kept = it != from_init.end() && (!is_output_head(key) || it->second.sizes() == value.sizes());
      if (kept || is_output_head(key)) state.emplace_back(key, kept ? it->second : value);
    }
    load_state_dict(net, state, KernelForm::Effective, o.init_model);  // BFR: W = W_eff / F
  }
  net->to(device);
  net->train();
  return net;
}

bool parameters_finite(Segmenter& net) {
  for (const auto& p : net->parameters()) {
    if (!torch::isfinite(p.detach()).all().item<bool>()) return false;
  }
  return true;
}

// The replicas must hold the same weights after training; anything else is a bug worth stopping for.
void check_replicas_identical(Segmenter& net, Communicator& comm) {
  double checksum = 0;
  for (const auto& p : net->parameters()) checksum += p.detach().to(torch::kFloat64).abs().sum().item<double>();
  if (!same_on_all_ranks(checksum, comm)) fail("rank {}: the replicas' weights differ after training", comm.rank());
}

// The training run: set up by the constructor (nothing is read before the options are checked),
// then run() is the loop.
class Run {
 public:
  Run(const TrainOptions& options, const std::vector<TrainingObserver*>& observers);
  TrainResult run();

 private:
  void validate_and_save(IterationReport& report);
  FinalValidationOptions final_validation_options() const;
  void notify(const IterationReport& report);
  [[noreturn]] void fail_diverged(int64_t iteration, const std::string& what) const;

  TrainOptions o_;
  torch::Device device_;
  bool main_rank_;
  std::unique_ptr<Communicator> comm_;
  std::shared_ptr<const CaseStore> store_;
  std::vector<size_t> validation_indices_;
  std::vector<CaseFiles> validation_cases_;  // their source files, for the final validation
  std::unique_ptr<TrainingDataSource> source_;
  Segmenter net_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  TrainingProgress progress_;
  std::vector<double> best_per_class_;
  int64_t last_saved_ = 0;
  std::unique_ptr<RunLog> log_;
  std::vector<TrainingObserver*> observers_;
};

Run::Run(const TrainOptions& options, const std::vector<TrainingObserver*>& observers)
    : o_(options), device_(rank_device(options)), main_rank_(options.where.rank == 0) {
  check_train_options(o_);
  if (main_rank_) prepare_output_folder(o_);
  const auto t_prepare = Clock::now();
  RunStart start;
  std::tie(start.store, start.preprocessed_cases) = prepare_store(o_, main_rank_);
  comm_ = connect(o_, device_);
  store_ = std::make_shared<const CaseStore>(start.store);
  adopt_store_recipe(o_, *store_);
  Dataset dataset = fold_of(o_, *store_, main_rank_);
  if (dataset.validation.empty()) fail("no validation cases");
  o_.plan = plan_with_class_names(o_.plan, dataset);
  if (o_.plan.training.deep_supervision) o_.plan.network = with_deep_outputs(o_.plan.network);
  if (main_rank_) describe_run(o_, dataset);
  validation_cases_ = dataset.validation;
  const auto training_indices = store_indices(*store_, dataset.training);
  validation_indices_ = store_indices(*store_, dataset.validation);
  start.training_cases = training_indices.size();
  start.validation_cases = validation_indices_.size();
  start.prepare_seconds = seconds(Clock::now() - t_prepare);

  net_ = build_network(o_, device_);
  if (o_.plan.training.deep_supervision && !net_->has_deep_outputs()) {
    fail("--deep-supervision: the {} network has no heads on its coarser decoder stages (nnunet's has)", o_.plan.network.arch);
  }
  if (comm_ && o_.sync_batch_norm) net_->synchronize_batch_norm(comm_.get());
  optimizer_ = make_optimizer(o_.plan.training.recipe, net_->parameters(), o_.learning_rate, o_.weight_decay);
  if (o_.resume) progress_ = load_checkpoint(in_output(o_, TrainOutputs::checkpoint()), net_, *optimizer_);
  last_saved_ = progress_.iteration;
  if (comm_) broadcast_module_state(*net_, *comm_);  // replicas start equal (they already do from one seed and file)

  BatchSourceOptions so;
  so.patch = o_.plan.patch;
  so.sampler = recipe_sampler(o_.plan, o_.sampler);
  // Each rank draws its own batches (rank 0 the same ones as a single process would).
  so.seed = o_.seed + 1000000007ULL * static_cast<uint64_t>(o_.where.rank);
  so.first = progress_.iteration;
  so.end = o_.iterations;
  so.workers = o_.workers;
  so.queue_size = o_.queue_size;
  so.augment_device = o_.augment_device.is_cuda() && !o_.augment_device.has_index() ? device_ : o_.augment_device;
  source_ = batch_source(store_crop_source(store_, training_indices), so);

  if (!main_rank_) return;
  // The classes validation scores: the plan's, background excluded (as the Validator names them).
  log_ = std::make_unique<RunLog>(o_.output_dir, progress_.iteration, std::vector<std::string>(o_.plan.class_names.begin() + 1, o_.plan.class_names.end()));
  observers_ = observers;
  observers_.push_back(log_.get());
  start.resumed_at = progress_.iteration;
  start.ranks = comm_ ? comm_->size() : 1;
  start.backend = comm_ ? comm_->backend() : "";
  start.sync_batch_norm = o_.sync_batch_norm;
  start.gradient_sync = enum_name(o_.gradient_sync);
  start.global_batch = start.ranks * o_.sampler.crops_per_case;
  start.class_names = o_.plan.class_names;
  for (auto* observer : observers_) observer->on_start(start);
}

TrainResult Run::run() {
  TrainingStepOptions step_options;
  step_options.precision = o_.precision;
  step_options.grad_clip = o_.grad_clip;
  step_options.ignore_top_label = store_->ignore_label().has_value();
  step_options.regions = o_.plan.regions;
  step_options.deep_supervision = o_.plan.training.deep_supervision;
  step_options.gradient_sync = o_.gradient_sync;
  TrainingStep step(net_, *optimizer_, step_options, comm_.get());
  const LrSchedule schedule{o_.schedule, o_.learning_rate, o_.warmup, o_.iterations};
  const int gpu = device_.has_index() ? device_.index() : 0;
  if (device_.is_cuda()) reset_cuda_peak(gpu);
  double wait_total = 0, run_total = 0, gradient_wait_total = 0;
  const int64_t first = progress_.iteration;
  const auto t_start = Clock::now();
  for (int64_t it = first; it < o_.iterations; ++it) {
    const auto t0 = Clock::now();
    const Batch batch = source_->batch(it);
    wait_total += seconds(Clock::now() - t0);
    IterationReport report;
    report.loss = step.run(batch.image.to(device_), batch.label.to(device_), schedule.at(it));
    gradient_wait_total += step.gradient_wait_seconds();
    if (!std::isfinite(report.loss)) fail_diverged(it + 1, fmt::format("the loss is {}", report.loss));
    run_total += seconds(Clock::now() - t0);
    report.done = it + 1;
    report.iterations = o_.iterations;
    if (report.done % o_.validate_every == 0 || report.done == o_.iterations) validate_and_save(report);
    report.iterations_per_second = (report.done - first) / std::max(1e-9, seconds(Clock::now() - t_start));
    report.data_wait_fraction = wait_total / std::max(1e-9, run_total);
    report.gradient_wait_fraction = gradient_wait_total / std::max(1e-9, run_total);
    notify(report);
  }
  if (comm_) check_replicas_identical(net_, *comm_);
  std::optional<EvaluationSummary> final_summary;
  if (main_rank_ && o_.final_validation) final_summary = validate_final_model(validation_cases_, final_validation_options());
  if (main_rank_) {
    for (auto* observer : observers_) observer->on_end({o_.iterations, comm_ ? comm_->size() : 1});
  }
  TrainResult result;
  result.world_size = comm_ ? comm_->size() : 1;
  result.best_dice = progress_.best_dice;
  result.best_iteration = progress_.best_iteration;
  result.best_per_class = best_per_class_;
  result.iterations_per_second = (o_.iterations - first) / std::max(1e-9, seconds(Clock::now() - t_start));
  result.data_wait_fraction = wait_total / std::max(1e-9, run_total);
  result.gradient_wait_fraction = gradient_wait_total / std::max(1e-9, run_total);
  if (device_.is_cuda()) result.peak_gpu_bytes = std::max<int64_t>(0, cuda_peak_allocated_bytes(gpu));
  result.final_validation = std::move(final_summary);
  return result;
}

// Validation, then the best model (when the score improved), the checkpoint and the last model.
void Run::validate_and_save(IterationReport& report) {
  if (!parameters_finite(net_)) fail_diverged(report.done, "the weights hold NaN or infinite values");
  ValidationCases cases{validation_indices_.size(), [this](size_t i) { return store_->read(validation_indices_[i]); }};
  const Validator validator(std::move(cases), o_.plan, device_, o_.precision, comm_.get());
  report.validation = validator.run(net_);
  ModelInfo info;
  info.plan = o_.plan;
  info.provenance = {{"trained_by", "repux train"}, {"dataset", o_.dataset}, {"iterations", o_.iterations}, {"seed", o_.seed}};
  const double mean = report.validation->mean.dice;
  if (mean > progress_.best_dice) {  // false for NaN (no class present): no score, no best
    progress_.best_dice = mean;
    progress_.best_iteration = report.done;
    best_per_class_.clear();
    for (const ClassMetrics& m : report.validation->mean_per_class) best_per_class_.push_back(m.dice);
    if (main_rank_) save_model(net_, info, in_output(o_, TrainOutputs::best_model()));
  }
  progress_.iteration = report.done;
  if (main_rank_) {
    save_checkpoint(in_output(o_, TrainOutputs::checkpoint()), net_, *optimizer_, progress_);
    save_model(net_, info, in_output(o_, TrainOutputs::last_model()));
  }
  last_saved_ = report.done;
}

FinalValidationOptions Run::final_validation_options() const {
  FinalValidationOptions f;
  f.model = in_output(o_, TrainOutputs::last_model());
  f.run_folder = o_.output_dir;
  f.class_names = o_.plan.class_names;
  f.regions = o_.plan.regions;
  f.ignore_label = store_->ignore_label();
  f.curves_png = in_output(o_, RunLog::curves_name());
  f.device = device_;
  return f;
}

void Run::notify(const IterationReport& report) {
  if (!main_rank_) return;
  IterationReport full = report;
  full.best_dice = progress_.best_dice;
  full.best_iteration = progress_.best_iteration;
  for (auto* observer : observers_) observer->on_iteration(full);
}

void Run::fail_diverged(int64_t iteration, const std::string& what) const {
  fail("training diverged at iteration {}: {}; the files in {} are those of iteration {} (lower --lr, now {}, or set --clip)", iteration,
       what, o_.output_dir, last_saved_, o_.learning_rate);
}

}  // namespace

void check_train_options(const TrainOptions& o) {
  auto require = [](bool ok, const char* option, auto value, const char* expected) {
    if (!ok) fail("{} {} is out of range, expected {}", option, value, expected);
  };
  require(o.iterations >= 1, "--iterations", o.iterations, "at least 1");
  require(o.validate_every >= 1, "--val-every", o.validate_every, "at least 1");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0, "--lr", o.learning_rate, "a positive number");
  require(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "--weight-decay", o.weight_decay, "0 or more");
  require(o.warmup >= 0 && o.warmup < o.iterations, "--warmup", o.warmup, "0 or more and below --iterations");
  require(std::isfinite(o.grad_clip) && o.grad_clip >= 0, "--clip", o.grad_clip, "0 (off) or more");
  require(o.workers >= 0 && o.workers <= 64, "--workers", o.workers, "0 to 64");
  require(o.preprocess_threads >= 0 && o.preprocess_threads <= 256, "--preprocess-threads", o.preprocess_threads, "0 (one per core) to 256");
  require(o.queue_size >= 1 && o.queue_size <= 64, "queue size", o.queue_size, "1 to 64");
  require(o.folds >= 2 && o.fold >= kAllFolds, "--fold", o.fold, "0 to --folds - 1, or all, with --folds at least 2");
  require(o.dist_timeout_seconds > 0, "--dist-timeout", o.dist_timeout_seconds, "a positive number of seconds");
  const auto& s = o.sampler;
  require(s.crops_per_case >= 1 && s.crops_per_case <= 64, "--crops", s.crops_per_case, "1 to 64");
  require(s.foreground_ratio >= 0 && s.foreground_ratio <= 1, "--fg-ratio", s.foreground_ratio, "in [0, 1]");
  for (int64_t a : s.flip_axes) require(a >= 0 && a <= 2, "--flip-axes", a, "0, 1 or 2");
  if (!o.dist_backend.empty() && o.dist_backend != "gloo" && o.dist_backend != "nccl") {
    fail("--dist-backend '{}' is not one of: gloo, nccl", o.dist_backend);
  }
  resolved(o.plan);
  if (o.resume && o.overwrite) fail("--resume and --overwrite contradict each other");
  if (o.augment_device.is_cuda() && !torch::cuda::is_available()) fail("--augment-device {}: no CUDA device is available", o.augment_device.str());
}

TrainResult train(const TrainOptions& options, const std::vector<TrainingObserver*>& observers) {
  Run run(options, observers);
  return run.run();
}

}  // namespace repux
