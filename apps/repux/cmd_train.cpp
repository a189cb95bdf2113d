// Training commands: `repux check-dataset`, `repux train`, `repux report` and `repux demo` (the
// main job: synthetic data -> training -> prediction of held-out cases -> evaluation -> report).
#include "commands.h"
#include "options.h"

#include "repux/data/case_store.h"
#include "repux/data/dataset.h"
#include "repux/data/preprocess.h"
#include "repux/data/splits.h"
#include "repux/data/synth.h"
#include "repux/dist/communicator.h"
#include "repux/error.h"
#include "repux/eval/html_report.h"
#include "repux/eval/folder_evaluation.h"
#include "repux/eval/preview.h"
#include "repux/io/atomic_file.h"
#include "repux/io/paths.h"
#include "repux/infer/predictor.h"
#include "repux/io/volume_file.h"
#include "repux/train/final_validation.h"
#include "repux/train/run_log.h"
#include "repux/train/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

struct TrainArgs {
  TrainOptions options;
  PlanArgs plan;
  RecipeArgs recipe;
  std::string fold = "0";  // --fold: 0 .. folds-1, or "all"
  std::optional<int64_t> crops;  // --crops; else the plan file's, else the default
  int64_t log_every = 10;
};

// Options shared by `train` and `demo`.
void bind_train_args(CLI::App* cmd, TrainArgs& a) {
  bind_plan(cmd, a.plan);
  bind_training(cmd, a.options, a.recipe);
  cmd->add_option("--crops", a.crops, fmt::format("Crops per volume per step (default {}, or the plan file's)", a.options.sampler.crops_per_case));
  cmd->add_option("--log-every", a.log_every, "Progress line every N iterations")->capture_default_str();
}

// --fold K or --fold all (nnU-Net's spelling).
int parse_fold(const std::string& text) {
  if (text == "all") return kAllFolds;
  char* end = nullptr;
  const long k = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || k < 0 || k > 1000) fail("--fold '{}' is neither a fold number (0, 1, ...) nor all", text);
  return static_cast<int>(k);
}

// Region-based labels make the network's outputs one per region; a plan file's regions must be the dataset's.
void adopt_regions(Plan& plan, const LabelRegions& regions, const std::string& source) {
  if (!plan.regions.empty() && !(regions == plan.regions)) {
    fail("{}: its labels are not the regions the plan was made for ({})", source, to_json(plan.regions).dump());
  }
  if (regions.empty()) return;
  plan.regions = regions;
  plan.network.out_channels = regions.size();
}

// The classes (or regions) and input channels a dataset.json names, unless given (then checked against them).
void adopt_dataset_description(Plan& plan, const PlanArgs& args, bool classes_given, const Dataset& dataset, const std::string& source) {
  const int64_t named = dataset_classes(dataset, classes_given ? std::optional<int64_t>(label_classes(plan)) : std::nullopt, source);
  if (named > 0) plan.network.out_channels = named;
  adopt_regions(plan, dataset.regions, source);
  const auto channels = static_cast<int64_t>(dataset.channel_names.size());
  if (channels == 0) return;
  if (args.plan_file.empty() && !args.network.in_channels) plan.network.in_channels = channels;
  if (plan.network.in_channels != channels) {
    fail("{}: channel_names lists {} channel(s), but the network takes {} (--in-channels or --plan)", source, channels, plan.network.in_channels);
  }
}

// Without --plan, --preset or a preprocessing option, the dataset's channel names choose: CT channels
// the flare preset (its CT window), anything else the mri preset (z-score per case, the images' own
// spacing), never a CT window for MRI unasked. What was chosen and why is said.
void choose_preprocessing(Plan& plan, const Dataset& d, const std::string& source, bool say) {
  // nnU-Net's rule for a channel's normalisation by its name (intensity_for_channel): "CT" in any case.
  const bool all_ct = std::all_of(d.channel_names.begin(), d.channel_names.end(),
                                  [](const std::string& name) { return intensity_for_channel(name) == Intensity::Ct; });
  if (!all_ct) plan.preprocessing = preprocess_preset("mri");
  if (!say) return;
  if (d.channel_names.empty()) {
    fmt::print("preprocessing: the flare preset (CT), as {} names no channels; --preset, or repux plan, to choose\n", source);
  } else if (all_ct) {
    fmt::print("preprocessing: the flare preset (CT window, 1 x 1 x 1.2 mm), as {} names its channels CT\n", source);
  } else {
    fmt::print("preprocessing: the mri preset (z-score per case, the images' own spacing), as {} names its channels {}, not CT; "
               "--preset, or repux plan (spacing and normalisation per channel), to choose\n",
               source, fmt::join(d.channel_names, ", "));
  }
}

TrainOptions resolve(const TrainArgs& a) {
  if (a.log_every < 1) fail("--log-every {} is out of range, expected at least 1", a.log_every);
  refuse_writing_over_inputs({a.options.dataset, a.options.data_root, a.plan.plan_file}, a.options.output_dir);
  TrainOptions o = a.options;
  o.fold = parse_fold(a.fold);
  const ResolvedPlan plan = resolve_plan(a.plan);
  o.plan = plan.plan;
  // Without --class-names the trainer names the classes from the dataset (its "labels"), else class1, ...;
  // resolve_plan has filled in the latter, which would hide the former.
  if (!plan.class_names_given) o.plan.class_names.clear();
  o.preprocessing_given = plan.preprocessing_given;
  apply_recipe(o, a.recipe);
  if (a.crops) o.sampler.crops_per_case = *a.crops;
  else if (plan.planned_crops_per_case > 0) o.sampler.crops_per_case = plan.planned_crops_per_case;
  o.where = launch_environment_from_env();
  check_train_options(o);  // the settings first: a wrong number is named before any file is read
  // From a store, the classes are the store's unless the command line or a plan file says; from a raw
  // dataset, its labels' and its channels' (checked against what the command line or plan says).
  if (is_case_store(o.dataset)) {
    const CaseStore store(o.dataset);
    if (!plan.classes_given) o.plan.network.out_channels = store.classes();
    adopt_regions(o.plan, store.dataset().regions, o.dataset);
  } else {
    const Dataset dataset = load_dataset(o.dataset, o.data_root);
    adopt_dataset_description(o.plan, a.plan, plan.classes_given, dataset, o.dataset);
    if (!plan.preprocessing_given) choose_preprocessing(o.plan, dataset, o.dataset, o.where.rank == 0);
  }
  return o;
}

// The progress lines of a run on the terminal (the trainer itself prints nothing), each also appended
// to the run folder's log.txt (opened when the run starts: the trainer has checked the folder then).
class ConsoleProgress : public TrainingObserver {
 public:
  ConsoleProgress(int64_t log_every, std::string output_dir) : log_every_(log_every), output_dir_(std::move(output_dir)) {}

  template <typename... Args>
  void say(fmt::format_string<Args...> format, Args&&... args) {
    const std::string text = fmt::format(format, std::forward<Args>(args)...);
    fmt::print("{}", text);
    std::fflush(stdout);
    if (log_) log_ << text << std::flush;
  }

  void on_start(const RunStart& s) override {
    log_.open(fs::path(output_dir_) / TrainOutputs::log(), std::ios::app);
    say("{} training and {} validation cases from {} ({} preprocessed now) in {:.1f} s\n", s.training_cases, s.validation_cases, s.store,
             s.preprocessed_cases, s.prepare_seconds);
    if (s.resumed_at > 0) say("resumed from the checkpoint at iteration {}\n", s.resumed_at);
    ranks_ = s.ranks;
    if (s.ranks > 1) {
      say("data-parallel: {} ranks ({}), BatchNorm {}, gradients all-reduced {}, global batch {} crops\n", s.ranks, s.backend,
          s.sync_batch_norm ? "synchronised" : "per rank", s.gradient_sync == "overlapped" ? "during backward" : "after backward",
          s.global_batch);
    }
  }

  void on_iteration(const IterationReport& r) override {
    loss_sum_ += r.loss;
    ++losses_;
    if (r.validation) {
      std::string detail;
      for (size_t c = 0; c < r.validation->mean_per_class.size(); ++c) detail += fmt::format(" {} {:.3f}", r.validation->class_names[c], r.validation->mean_per_class[c].dice);
      say("validation at {}: mean Dice {:.4f} (best {:.4f} at {}):{}\n", r.done, r.validation->mean.dice, r.best_dice, r.best_iteration, detail);
    }
    if (r.done % log_every_ != 0 && r.done != r.iterations) return;
    const std::string gradient_wait = ranks_ > 1 ? fmt::format("  gradient wait {:.0f}%", 100.0 * r.gradient_wait_fraction) : "";
    // Slow steps (a full-size network on a CPU) also as seconds per step: "0.05 it/s" alone says little.
    const std::string per_step = r.iterations_per_second < 1 ? fmt::format(" ({:.2f} s/it)", 1 / std::max(1e-9, r.iterations_per_second)) : "";
    say("it {:>6}/{}  loss {:.4f}  {:.2f} it/s{}  data wait {:.0f}%{}  ETA {:.0f} s\n", r.done, r.iterations, loss_sum_ / losses_,
        r.iterations_per_second, per_step, 100.0 * r.data_wait_fraction, gradient_wait,
        (r.iterations - r.done) / std::max(1e-9, r.iterations_per_second));
    loss_sum_ = 0;
    losses_ = 0;
  }

  void on_end(const RunEnd& e) override {
    if (e.ranks > 1) say("weights identical on all {} ranks\n", e.ranks);
  }

 private:
  int64_t log_every_;
  int ranks_ = 1;
  std::string output_dir_;
  std::ofstream log_;
  double loss_sum_ = 0;
  int64_t losses_ = 0;
};

void print_result(const TrainResult& r, const TrainOptions& o, ConsoleProgress& console) {
  console.say("best mean validation Dice {:.4f} at iteration {}; {:.3f} it/s, data wait {:.1f}% of step time\n", r.best_dice, r.best_iteration,
             r.iterations_per_second, 100 * r.data_wait_fraction);
  if (r.peak_gpu_bytes > 0) console.say("peak GPU memory {:.2f} GiB\n", r.peak_gpu_bytes / 1073741824.0);
  const fs::path out(o.output_dir);
  if (r.final_validation) {
    console.say("final validation of the last model on {} case(s): mean Dice {:.4f}; {}\n", r.final_validation->cases.size(), r.final_validation->mean.dice,
                (out / validation_folder_name() / "summary.json").string());
  }
  console.say("model: {}  curves: {}  metrics: {}  log: {}\n", (out / TrainOutputs::best_model()).string(), (out / RunLog::curves_name()).string(),
              (out / RunLog::metrics_name()).string(), (out / TrainOutputs::log()).string());
}

// Trains with the progress on the terminal and in OUTPUT/log.txt, the result last.
TrainResult train_with_progress(const TrainArgs& args, const TrainOptions& o) {
  ConsoleProgress progress(args.log_every, o.output_dir);
  TrainResult result = train(o, {&progress});
  if (o.where.rank == 0) print_result(result, o, progress);
  return result;
}

struct CheckDatasetArgs {
  std::string dataset, root;
  std::optional<int64_t> classes;  // else the dataset's labels
};

struct ReportArgs {
  std::string image, prediction, truth, output;
  std::vector<std::string> class_names;  // background first; else the label maps' own (a SEG's)
  PreviewOptions preview;
};

void run_check_dataset(const CheckDatasetArgs& a) {
  const Dataset d = load_dataset(a.dataset, a.root);
  const int64_t classes = dataset_classes(d, a.classes, a.dataset);
  if (classes == 0) fail("{}: the dataset names no labels; give --classes (background included)", a.dataset);
  const auto problems = check_dataset(d, classes);
  for (const auto& p : problems) fmt::print("{}: {}\n", p.file, p.problem);
  const size_t cases = d.training.size() + d.validation.size();
  if (!problems.empty()) fail("{} problem(s) in {} case(s) of {}", problems.size(), cases, a.dataset);
  fmt::print("{} case(s) checked, no problems: {} classes{}{}, {} channel(s){}, {} test case(s)\n", cases, classes,
             d.ignore_label ? fmt::format(" and ignore label {}", *d.ignore_label) : "",
             d.regions.empty() ? "" : fmt::format(" ({} regions)", d.regions.size()),
             d.channel_names.empty() ? std::string("?") : std::to_string(d.channel_names.size()),
             d.channel_names.empty() ? "" : " (" + fmt::format("{}", fmt::join(d.channel_names, ", ")) + ")", d.test.size());
}

// A preview (.png), or an HTML page with the preview beside it (.html: NAME.png next to it).
void run_report(const ReportArgs& a) {
  const bool html = ends_with(a.output, ".html");
  if (!html && !ends_with(a.output, ".png")) fail("-o {}: expected a .png picture or an .html page", a.output);
  const std::string png = html ? (fs::path(a.output).parent_path() / (fs::path(a.output).stem().string() + ".png")).string() : a.output;
  ensure_writable(a.output);
  const Volume image = read_volume(a.image);
  Volume prediction = read_label_volume(a.prediction, image.grid());
  if (prediction.spatial_shape() != image.spatial_shape()) fail("{}: shape differs from the image {}", a.prediction, a.image);
  if (!a.class_names.empty()) prediction.label_names = a.class_names;
  std::optional<Volume> truth;
  if (!a.truth.empty()) truth = read_label_volume(a.truth, image.grid());
  std::vector<LabelLayer> layers;
  if (truth) layers.push_back({"ground truth", &*truth});
  layers.push_back({"prediction", &prediction});
  PreviewOptions options = a.preview;
  if (options.title.empty()) options.title = fs::path(a.image).filename().string();
  const DisplayWindow used = write_preview(image, layers, png, options);
  if (html) write_html_report(a.output, {{png}});
  fmt::print("wrote {} (window W{:g}/L{:g}: {})\n", html ? a.output + " and " + png : png, used.width, used.level, used.name);
}

// The demo's defaults: a small RepUX-Net trained briefly on synthetic CT-like data at 2 mm.
std::shared_ptr<TrainArgs> demo_defaults() {
  auto da = std::make_shared<TrainArgs>();
  auto& n = da->plan.plan.network;
  n.arch = "repuxnet";
  n.out_channels = static_cast<int64_t>(synth_class_names().size());
  n.dims = {8, 16, 32, 64};
  n.depths = {1, 1, 1, 1};
  n.hidden_size = 64;
  da->plan.plan.class_names = synth_class_names();
  da->plan.preset = "flare";
  da->plan.spacing = {2.0, 2.0, 2.0};
  da->plan.patch = {48};
  da->options.iterations = 800;
  da->recipe.validate_every = 100;
  da->recipe.learning_rate = 2e-3;
  da->recipe.schedule = Schedule::Cosine;
  da->recipe.warmup = 20;
  da->options.output_dir = "demo-out";
  return da;
}

void run_demo(TrainArgs args, int64_t cases) {
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path out(args.options.output_dir);
  args.options.dataset = write_synthetic_dataset((out / "data").string(), cases, args.options.seed + 1);
  args.options.output_dir = (out / "training").string();
  args.options.overwrite = true;  // the demo owns its output folder
  const TrainOptions o = resolve(args);
  fmt::print("[1/4] wrote {} synthetic CT-like cases to {}\n[2/4] training {} ({} iterations, patch {}^3) on the CPU\n", cases,
             (out / "data").string(), o.plan.network.arch, o.iterations, o.plan.patch[0]);
  const TrainResult result = train_with_progress(args, o);
  fmt::print("[3/4] predicted the held-out cases with the last model (the held-out cases play no part in choosing it): {}\n",
             (fs::path(o.output_dir) / validation_folder_name()).string());
  const Dataset dataset = load_dataset(o.dataset);
  fmt::print("[4/4] evaluated\n");
  const EvaluationSummary& summary = *result.final_validation;
  write_evaluation(summary, (out / "summary.json").string());
  std::vector<std::string> pngs;
  for (const auto& c : dataset.validation) {
    pngs.push_back((fs::path(o.output_dir) / validation_folder_name() / "overlays" / (case_identifier(c) + ".png")).string());
  }
  write_html_report((out / "report.html").string(), {pngs, (fs::path(o.output_dir) / RunLog::curves_name()).string(), &summary,
                                                     validation_viewer_pages(o.output_dir, summary)});
  for (size_t k = 0; k < summary.class_names.size(); ++k) fmt::print("  {:<8} Dice {}\n", summary.class_names[k], summary.mean_per_class[k].dice);
  fmt::print("held-out mean Dice {:.4f} over {} cases; total {:.0f} s\nreport: {}\n", summary.mean.dice,
             dataset.validation.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
             fs::absolute(out / "report.html").string());
}

}  // namespace

TrainOptions train_options_from_arguments(const std::vector<std::string>& arguments) {
  TrainArgs a;
  CLI::App app("repux train's arguments");
  app.add_option("-d,--dataset,-i,--input", a.options.dataset, "Dataset JSON, or a folder with dataset.json or imagesTr/labelsTr")->required();
  app.add_option("--root", a.options.data_root, "Base folder for relative paths");
  app.add_option("--fold", a.fold, "Validation fold when the dataset has no validation list, or all");
  app.add_option("--folds", a.options.folds, "Number of folds");
  bind_train_args(&app, a);
  std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    fail("train arguments: {}", first_line(e.what()));
  }
  a.options.output_dir = ".";  // the caller's to choose
  return resolve(a);
}

void add_train_commands(CLI::App& app) {
  auto check = std::make_shared<CheckDatasetArgs>();
  auto* c = app.add_subcommand("check-dataset", "Check every case of a dataset before training; lists every problem");
  c->add_option("dataset,-i,--input", check->dataset, "Dataset JSON, or a folder with dataset.json or imagesTr/labelsTr")->required();
  c->add_option("--root", check->root, "Base folder for relative paths (default: the JSON's folder)");
  c->add_option("--classes", check->classes, "Classes including background (default: the dataset's labels; checked against them)");
  c->callback([check] { run_check_dataset(*check); });

  auto ta = std::make_shared<TrainArgs>();
  auto& o = ta->options;
  auto* t = app.add_subcommand("train", "Train a network (--recipe repux: AdamW, or nnunet: nnU-Net's SGD and augmentations; Dice + CE, sliding-window validation, best/last checkpoints)");
  t->add_option("-d,--dataset,-i,--input", o.dataset,
                 "Dataset JSON, a folder with dataset.json or imagesTr/labelsTr (preprocessed into OUTPUT/preprocessed first), or a case store "
                 "made by `repux preprocess`")
      ->required();
  t->add_option("-o,--output", o.output_dir, "Output folder")->required();
  t->add_option("--root", o.data_root, "Base folder for relative paths");
  t->add_option("--fold", ta->fold,
                "Validation fold (0-4) of nnU-Net's folds, or of the dataset's splits_final.json, when the dataset has no validation "
                "list; all: train on every case")
      ->capture_default_str();
  t->add_option("--folds", o.folds, "Number of folds made when there is no splits_final.json")->capture_default_str();
  t->add_option("--init", o.init_model, "Start from this model file (fine-tuning; the head is replaced if classes differ)");
  t->add_flag("--resume", o.resume, "Resume exactly from OUTPUT/checkpoint.pt");
  t->add_flag_callback("--no-final-validation", [&o] { o.final_validation = false; },
                       "After training, do not predict the validation cases into OUTPUT/validation/ (summary.json, report.html)");
  t->add_flag("--overwrite", o.overwrite, "Replace a previous run in OUTPUT (without it, such a folder is refused)");
  t->add_option("--dist-backend", o.dist_backend, "Data-parallel backend when launched as a rank: gloo or nccl (default: by device)");
  t->add_flag("--sync-bn", o.sync_batch_norm, "Data-parallel: BatchNorm statistics over all ranks (default: each rank's own)");
  add_enum_option(t, "--grad-sync", o.gradient_sync,
                  "Data-parallel: all-reduce gradient buckets during backward as they are produced (as DistributedDataParallel), "
                  "or all after backward");
  t->add_option("--dist-timeout", o.dist_timeout_seconds, "Data-parallel: seconds before a dead or hung rank stops the others")
      ->capture_default_str()->check(CLI::PositiveNumber);
  bind_train_args(t, *ta);
  t->callback([ta] {
    const TrainOptions options = resolve(*ta);
    train_with_progress(*ta, options);
  });

  auto ra = std::make_shared<ReportArgs>();
  auto* r = app.add_subcommand("report",
                               "A preview of an image with its prediction (and ground truth): axial, coronal and sagittal slices in patient "
                               "orientation (PNG, or an HTML page)");
  r->add_option("-i,--image,--input", ra->image, "Image volume")->required();
  r->add_option("-p,--prediction,--pred", ra->prediction, "Predicted label volume")->required();
  r->add_option("-g,--truth,--gt", ra->truth, "Ground-truth label volume (optional)");
  r->add_option("-o,--output", ra->output, "A .png picture, or an .html page (the picture next to it)")->required();
  r->add_option("--title", ra->preview.title, "The picture's title (default: the image's file name)");
  r->add_option("--class-names", ra->class_names, "Class names for the legend, background first (a NIfTI names no labels)");
  bind_preview(r, "--window", ra->preview);
  r->callback([ra] { run_report(*ra); });

  auto da = demo_defaults();
  auto cases = std::make_shared<int64_t>(24);
  auto* d = app.add_subcommand("demo", "The main job: synthetic CT-like data, train a small RepUX-Net, predict held-out cases, evaluate, report");
  d->add_option("-o,--output", da->options.output_dir, "Output folder")->capture_default_str();
  d->add_option("-n,--cases", *cases, "Synthetic cases (about 20% held out)")->capture_default_str();
  bind_train_args(d, *da);
  d->callback([da, cases] { run_demo(*da, *cases); });
}

}  // namespace repux::cli
