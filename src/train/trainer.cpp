#include "repux/train/trainer.h"

#include "repux/data/dataset.h"
#include "repux/device_memory.h"
#include "repux/dist/communicator.h"
#include "repux/error.h"
#include "repux/infer/sliding_window.h"
#include "repux/io/atomic_file.h"
#include "repux/io/nifti.h"
#include "repux/nn/autocast.h"
#include "repux/nn/model_file.h"
#include "repux/nn/state_dict.h"
#include "repux/train/checkpoint.h"
#include "repux/train/loss.h"
#include "repux/train/plot.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;

namespace repux {
namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Workers produce the batch of each iteration from its own seed, ahead of time, into a bounded map;
// the training loop takes them in order. Whatever the timing, iteration i always sees the same batch.
class BatchQueue {
 public:
  BatchQueue(const std::vector<PreparedCase>& cases, const SamplerOptions& sampler, uint64_t seed, int64_t first, int64_t end,
             int workers, int capacity)
      : cases_(cases), sampler_(sampler), seed_(seed), next_(first), consumed_(first), end_(end), capacity_(capacity) {
    for (int w = 0; w < std::max(1, workers); ++w) threads_.emplace_back([this] { work(); });
  }
  ~BatchQueue() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  Batch take(int64_t iteration) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return ready_.count(iteration) || error_; });
    if (error_) throw Error(error_message_);
    Batch b = std::move(ready_[iteration]);
    ready_.erase(iteration);
    consumed_ = iteration + 1;
    cv_.notify_all();
    return b;
  }

 private:
  void work() {
    torch::NoGradGuard no_grad;
    while (true) {
      int64_t i;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || (next_ < end_ && next_ < consumed_ + capacity_); });
        if (stop_) return;
        i = next_++;
      }
      try {
        Batch b = sample_batch(cases_, seed_ * 1000003ULL + static_cast<uint64_t>(i), sampler_);
        std::lock_guard<std::mutex> lock(mutex_);
        ready_[i] = std::move(b);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = true;
        error_message_ = e.what();
      }
      cv_.notify_all();
    }
  }

  const std::vector<PreparedCase>& cases_;
  SamplerOptions sampler_;
  uint64_t seed_;
  int64_t next_, consumed_, end_;
  int capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::vector<std::thread> threads_;
  bool stop_ = false, error_ = false;
  std::string error_message_;
};

double learning_rate_at(const TrainOptions& o, int64_t it) {
  double scale = 1.0;
  if (o.warmup > 0 && it < o.warmup) return o.learning_rate * (it + 1) / static_cast<double>(o.warmup);
  const double progress = static_cast<double>(it - o.warmup) / std::max<int64_t>(1, o.iterations - o.warmup);
  if (o.schedule == "cosine") scale = 0.5 * (1 + std::cos(M_PI * progress));
  else if (o.schedule == "poly") scale = std::pow(1 - progress, 0.9);  // names checked by check_train_options
  return o.learning_rate * scale;
}

std::vector<PreparedCase> prepare_cases(const std::vector<CaseFiles>& files, const PreprocessRecipe& recipe, int64_t classes) {
  std::vector<PreparedCase> out;
  for (const auto& f : files) {
    if (f.label.empty()) fail("{}: training case has no label", f.image);
    const Volume image = read_nifti(f.image, {.allow_channels = true});
    const Volume label = read_nifti(f.label);
    PreparedCase c = preprocess(image, recipe, &label);
    if (c.label.max().item<int64_t>() >= classes) fail("{}: label {} >= number of classes {}", f.label, c.label.max().item<int64_t>(), classes);
    out.push_back(std::move(c));
  }
  return out;
}

// Dice per class (1..K-1) summed over this rank's share of the validation cases (case i goes to rank
// i mod ranks), with the number of cases where the class is present; the caller reduces over ranks.
std::pair<std::vector<double>, std::vector<double>> validate(Segmenter& net, const std::vector<PreparedCase>& cases, const TrainOptions& o,
                                                             const torch::Device& device, Precision precision, int rank, int ranks) {
  torch::NoGradGuard no_grad;
  net->eval();
  const int64_t k = net->config.out_channels;
  std::vector<double> sum(k - 1, 0.0), count(k - 1, 0.0);
  SlidingWindowOptions sw;
  sw.window = o.sampler.patch;
  sw.overlap = o.validation_overlap;
  sw.compute_device = device;
  sw.stitch_device = device;
  for (size_t i = static_cast<size_t>(rank); i < cases.size(); i += static_cast<size_t>(ranks)) {
    const auto& c = cases[i];
    auto logits = sliding_window_inference(c.image.unsqueeze(0), k, [&](const torch::Tensor& x) {
      AutocastScope amp(device.type(), precision);
      return net->forward(x).to(torch::kFloat32);
    }, sw);
    auto pred = logits[0].argmax(0).cpu();
    for (int64_t cls = 1; cls < k; ++cls) {
      auto p = pred == cls, g = c.label == cls;
      const double ng = g.sum().item<double>();
      if (ng == 0) continue;
      sum[cls - 1] += 2.0 * (p & g).sum().item<double>() / (p.sum().item<double>() + ng);
      count[cls - 1] += 1;
    }
  }
  net->train();
  return {sum, count};
}

double nanmean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v) {
    if (!std::isnan(x)) {
      s += x;
      ++n;
    }
  }
  return n ? s / n : 0.0;
}

bool parameters_finite(Segmenter& net) {
  for (const auto& p : net->parameters()) {
    if (!torch::isfinite(p.detach()).all().item<bool>()) return false;
  }
  return true;
}

[[noreturn]] void fail_diverged(const TrainOptions& o, int64_t iteration, const std::string& what, int64_t last_checkpoint) {
  fail("training diverged at iteration {}: {}; the files in {} are those of iteration {} (lower --lr, now {}, or set --clip)", iteration,
       what, o.output_dir, last_checkpoint, o.learning_rate);
}

// A folder holding another run is not silently overwritten; files a killed run left half-written
// (temporary names) are removed.
void prepare_output_folder(const TrainOptions& o) {
  fs::create_directories(o.output_dir);
  if (!o.resume && !o.overwrite) {
    for (const char* name : {"checkpoint.pt", "best.repux", "last.repux", "metrics.csv"}) {
      if (fs::exists(fs::path(o.output_dir) / name)) {
        fail("{}: holds a previous training run ({}); continue it with --resume, replace it with --overwrite, or choose another folder",
             o.output_dir, name);
      }
    }
  }
  remove_abandoned_temporaries(o.output_dir);
}

}  // namespace

void check_train_options(const TrainOptions& o) {
  auto require = [](bool ok, const char* option, auto value, const char* expected) {
    if (!ok) fail("{} {} is out of range, expected {}", option, value, expected);
  };
  require(o.iterations >= 1, "--iterations", o.iterations, "at least 1");
  require(o.validate_every >= 1, "--val-every", o.validate_every, "at least 1");
  require(o.log_every >= 1, "--log-every", o.log_every, "at least 1");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0, "--lr", o.learning_rate, "a positive number");
  require(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "--weight-decay", o.weight_decay, "0 or more");
  require(o.warmup >= 0 && o.warmup < o.iterations, "--warmup", o.warmup, "0 or more and below --iterations");
  require(std::isfinite(o.grad_clip) && o.grad_clip >= 0, "--clip", o.grad_clip, "0 (off) or more");
  require(o.workers >= 0 && o.workers <= 64, "--workers", o.workers, "0 to 64");
  require(o.queue_size >= 1 && o.queue_size <= 64, "queue size", o.queue_size, "1 to 64");
  require(o.folds >= 2 && o.fold >= 0 && o.fold < o.folds, "--fold", o.fold, "0 to --folds - 1 with --folds at least 2");
  require(o.validation_overlap >= 0 && o.validation_overlap < 1, "validation overlap", o.validation_overlap, "in [0, 1)");
  require(o.dist_timeout_seconds > 0, "--dist-timeout", o.dist_timeout_seconds, "a positive number of seconds");
  const auto& s = o.sampler;
  require(s.crops_per_case >= 1 && s.crops_per_case <= 64, "--crops", s.crops_per_case, "1 to 64");
  require(s.foreground_ratio >= 0 && s.foreground_ratio <= 1, "--fg-ratio", s.foreground_ratio, "in [0, 1]");
  for (int64_t p : s.patch) require(p >= 16 && p <= 512 && p % 16 == 0, "--patch", p, "a multiple of 16 from 16 to 512");
  for (int64_t a : s.flip_axes) require(a >= 0 && a <= 2, "--flip-axes", a, "0, 1 or 2");
  if (o.schedule != "none" && o.schedule != "cosine" && o.schedule != "poly") {
    fail("--schedule '{}' is unknown, expected one of: none, cosine, poly", o.schedule);
  }
  parse_precision(o.precision);
  (void)torch::Device(o.device);
  o.network.resolved();
  if (o.resume && o.overwrite) fail("--resume and --overwrite contradict each other");
}

std::vector<std::string> check_training_data(const TrainOptions& o, int64_t classes) {
  Dataset d = load_dataset(o.dataset, o.data_root);
  std::vector<CaseFiles> all = d.training;
  all.insert(all.end(), d.validation.begin(), d.validation.end());
  std::vector<std::string> lines;
  for (const auto& p : check_dataset(all, classes)) lines.push_back(p.file + ": " + p.problem);
  return lines;
}

TrainResult train(const TrainOptions& o) {
  check_train_options(o);
  const LaunchEnvironment where = launch_environment_from_env();
  torch::Device device(o.device);
  // One GPU per local rank, as torchrun users expect, unless the device names one.
  if (device.is_cuda() && !device.has_index() && where.world_size > 1) device = torch::Device(torch::kCUDA, static_cast<int8_t>(where.local_rank));
  const Precision precision = parse_precision(o.precision);  // checked before any work
  const bool main_rank = where.rank == 0;  // the only rank that writes files and prints
  const bool quiet = o.quiet || !main_rank;
  NetworkConfig net_config = o.network.resolved();
  const int64_t classes = net_config.out_channels;
  const auto problems = check_training_data(o, classes);
  if (!problems.empty()) fail("{} problem(s) in the dataset, first: {} (run `repux check-dataset` for all)", problems.size(), problems.front());
  Dataset dataset = load_dataset(o.dataset, o.data_root);
  split_folds(dataset, o.folds, o.fold, o.seed);
  if (dataset.validation.empty()) fail("no validation cases");
  if (main_rank) prepare_output_folder(o);
  std::unique_ptr<Communicator> comm;
  if (where.world_size > 1) {
    CommunicatorOptions co;
    co.where = where;
    co.backend = o.dist_backend;
    co.device = device;
    co.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.dist_timeout_seconds * 1000));
    comm = std::make_unique<Communicator>(co);
  }
  const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;

  std::vector<std::string> names = o.class_names;
  if (names.empty() && static_cast<int64_t>(dataset.class_names.size()) == classes) names = dataset.class_names;
  if (names.empty()) names = default_class_names(classes);
  if (static_cast<int64_t>(names.size()) != classes) fail("{} class names for {} classes", names.size(), classes);

  const auto t_prep = Clock::now();
  const auto train_cases = prepare_cases(dataset.training, o.preprocessing, classes);
  const auto val_cases = prepare_cases(dataset.validation, o.preprocessing, classes);
  if (!quiet) {
    fmt::print("prepared {} training and {} validation cases in {:.1f} s\n", train_cases.size(), val_cases.size(), seconds(Clock::now() - t_prep));
  }

  torch::manual_seed(o.seed);
  Segmenter net = create_network(net_config);
  if (!o.init_model.empty()) {
    // Fine-tuning: every weight from the model file; a new output head when the classes differ.
    LoadedModel init = load_model(o.init_model);
    auto state = state_dict(init.net, KernelForm::Effective);
    const auto fresh = state_dict(net, KernelForm::Effective);
    for (size_t i = 0; i < state.size() && i < fresh.size(); ++i) {
      if (state[i].first.rfind("out.", 0) == 0 && state[i].second.sizes() != fresh[i].second.sizes()) state[i].second = fresh[i].second;
    }
    load_state_dict(net, state, KernelForm::Effective, o.init_model);  // BFR: W = W_eff / F
  }
  net->to(device);
  net->train();
  if (comm && o.sync_batch_norm) net->synchronize_batch_norm(comm.get());
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(o.learning_rate).betas({0.9, 0.999}).eps(1e-8).weight_decay(o.weight_decay));

  int64_t start = 0, best_iteration = 0;
  double best = -1;
  const std::string checkpoint = (fs::path(o.output_dir) / "checkpoint.pt").string();
  const std::string metrics_path = (fs::path(o.output_dir) / "metrics.csv").string();
  std::vector<CurvePoint> loss_curve, dice_curve;
  std::vector<std::string> kept_log_rows;
  if (o.resume) {
    const TrainingProgress progress = load_checkpoint(checkpoint, net, optimizer);
    start = progress.iteration;
    best = progress.best_dice;
    best_iteration = progress.best_iteration;
    // Keep the log up to the checkpoint: rows written after it belong to iterations that will run again.
    std::ifstream in(metrics_path);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      int64_t it;
      double loss, dice;
      const int fields = std::sscanf(line.c_str(), "%ld,%lf,%lf", &it, &loss, &dice);
      if (fields >= 2 && it <= start) {
        kept_log_rows.push_back(line);
        loss_curve.push_back({static_cast<double>(it), loss});
        if (fields == 3) dice_curve.push_back({static_cast<double>(it), dice});
      }
    }
    if (!quiet) fmt::print("resumed from {} at iteration {}\n", checkpoint, start);
  }
  if (comm) {
    broadcast_module_state(*net, *comm);  // replicas start equal (they already do from one seed and file)
    if (!quiet) {
      fmt::print("data-parallel: {} ranks ({}), BatchNorm {}, global batch {} crops\n", ranks, comm->backend(),
                 o.sync_batch_norm ? "synchronised" : "per rank", ranks * o.sampler.crops_per_case);
    }
  }
  // The log is rewritten up to the checkpoint (atomically), then appended and flushed row by row,
  // so a killed run leaves every completed iteration in it.
  std::ofstream metrics;
  if (main_rank) {
    std::string kept = "iteration,loss,val_mean_dice\n";
    for (const auto& row : kept_log_rows) kept += row + "\n";
    write_file_atomically(metrics_path, kept);
    metrics.open(metrics_path, std::ios::app);
  }
  ModelInfo info;
  info.network = net_config;
  info.class_names = names;
  info.preprocessing = to_json(o.preprocessing);
  info.preprocessing["patch"] = o.sampler.patch;
  info.provenance = {{"trained_by", "repux train"}, {"dataset", o.dataset}, {"iterations", o.iterations}, {"seed", o.seed}};

  TrainResult result;
  result.best_dice = best;
  result.best_iteration = best_iteration;
  // Each rank draws its own batches (rank 0 the same ones as a single process would).
  BatchQueue queue(train_cases, o.sampler, o.seed + 1000000007ULL * static_cast<uint64_t>(rank), start, o.iterations, o.workers, o.queue_size);
  double wait_total = 0, run_total = 0, loss_window = 0;
  int64_t window_count = 0;
  int64_t last_saved = start;
  const int gpu = device.has_index() ? device.index() : 0;
  if (device.is_cuda()) reset_cuda_peak(gpu);
  const auto t_start = Clock::now();
  for (int64_t it = start; it < o.iterations; ++it) {
    const auto t0 = Clock::now();
    Batch batch = queue.take(it);
    const auto t1 = Clock::now();
    wait_total += seconds(t1 - t0);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate_at(o, it));
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      AutocastScope amp(device.type(), precision);
      loss = dice_ce_loss(net->forward(batch.image.to(device)).to(torch::kFloat32), batch.label.to(device));
    }
    loss.backward();
    if (comm) average_gradients(net->parameters(), *comm);
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), o.grad_clip);
    optimizer.step();
    double loss_value = loss.item<double>();
    if (comm) {  // the logged loss is the mean over ranks, i.e. over the global batch
      std::vector<torch::Tensor> l{torch::tensor({loss_value}, torch::kFloat64)};
      comm->all_reduce_sum(l);
      loss_value = l[0].item<double>() / ranks;
    }
    if (!std::isfinite(loss_value)) fail_diverged(o, it + 1, fmt::format("the loss is {}", loss_value), last_saved);
    run_total += seconds(Clock::now() - t0);
    loss_window += loss_value;
    ++window_count;

    const int64_t done = it + 1;
    std::string dice_cell;
    if (done % o.validate_every == 0 || done == o.iterations) {
      if (!parameters_finite(net)) fail_diverged(o, done, "the weights hold NaN or infinite values", last_saved);
      auto [sums, counts] = validate(net, val_cases, o, device, precision, rank, ranks);
      if (comm) {
        std::vector<torch::Tensor> t{torch::tensor(sums, torch::kFloat64), torch::tensor(counts, torch::kFloat64)};
        comm->all_reduce_sum(t);
        sums = std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + t[0].numel());
        counts = std::vector<double>(t[1].data_ptr<double>(), t[1].data_ptr<double>() + t[1].numel());
      }
      std::vector<double> per_class;
      for (size_t c = 0; c < sums.size(); ++c) per_class.push_back(counts[c] > 0 ? sums[c] / counts[c] : std::nan(""));
      const double mean = nanmean(per_class);
      dice_curve.push_back({static_cast<double>(done), mean});
      dice_cell = fmt::format("{:.6f}", mean);
      if (mean > best) {
        best = mean;
        best_iteration = done;
        result.best_per_class = per_class;
        if (main_rank) save_model(net, info, (fs::path(o.output_dir) / "best.repux").string());
      }
      if (!quiet) {
        std::string detail;
        for (size_t c = 0; c < per_class.size(); ++c) detail += fmt::format(" {} {:.3f}", names[c + 1], per_class[c]);
        fmt::print("validation at {}: mean Dice {:.4f} (best {:.4f} at {}):{}\n", done, mean, best, best_iteration, detail);
      }
      if (main_rank) {
        save_checkpoint(checkpoint, net, optimizer, {done, best, best_iteration});
        save_model(net, info, (fs::path(o.output_dir) / "last.repux").string());
      }
      last_saved = done;
    }
    if (main_rank) metrics << done << "," << loss_value << "," << dice_cell << std::endl;
    if (main_rank && !metrics) fail("cannot write {}: disk full or I/O error", metrics_path);
    loss_curve.push_back({static_cast<double>(done), loss_value});
    if (!quiet && (done % o.log_every == 0 || done == o.iterations)) {
      const double elapsed = seconds(Clock::now() - t_start);
      const double rate = (done - start) / elapsed;
      fmt::print("it {:>6}/{}  loss {:.4f}  {:.2f} it/s  data wait {:.0f}%  ETA {:.0f} s\n", done, o.iterations, loss_window / window_count,
                 rate, 100.0 * wait_total / std::max(1e-9, run_total), (o.iterations - done) / rate);
      std::fflush(stdout);
      loss_window = 0;
      window_count = 0;
    }
  }
  if (comm) {
    // The replicas must hold the same weights; anything else is a bug worth stopping for.
    double checksum = 0;
    for (const auto& p : net->parameters()) checksum += p.detach().to(torch::kFloat64).abs().sum().item<double>();
    if (!same_on_all_ranks(checksum, *comm)) fail("rank {}: the replicas' weights differ after training", rank);
    if (!quiet) fmt::print("weights identical on all {} ranks\n", ranks);
    result.world_size = ranks;
  }
  if (!main_rank) return result;
  metrics.close();
  plot_training_curves(loss_curve, dice_curve, (fs::path(o.output_dir) / "training.png").string());
  result.best_dice = best;
  result.best_iteration = best_iteration;
  result.iterations_per_second = (o.iterations - start) / std::max(1e-9, seconds(Clock::now() - t_start));
  result.data_wait_fraction = wait_total / std::max(1e-9, run_total);
  if (device.is_cuda()) result.peak_gpu_bytes = std::max<int64_t>(0, cuda_peak_allocated_bytes(gpu));
  return result;
}

}  // namespace repux
