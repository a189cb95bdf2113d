// Training commands: `repux check-dataset`, `repux train`, `repux report` and `repux demo` (the
// main job: synthetic data -> training -> prediction of held-out cases -> evaluation -> report).
#include "commands.h"

#include "repux/data/dataset.h"
#include "repux/data/synth.h"
#include "repux/dist/communicator.h"
#include "repux/error.h"
#include "repux/eval/overlay.h"
#include "repux/eval/report.h"
#include "repux/infer/predictor.h"
#include "repux/io/nifti.h"
#include "repux/train/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

struct TrainArgs {
  TrainOptions options;
  std::string preset = "flare";
  std::vector<double> spacing;
  std::vector<int64_t> patch;
  std::string intensity;
  bool no_crop = false;
};

// Options shared by `train` and `demo`.
void add_network_options(CLI::App* cmd, TrainArgs& a) {
  auto& n = a.options.network;
  cmd->add_option("--arch", n.arch, "repuxnet or uxnet")->capture_default_str();
  cmd->add_option("--classes", n.out_channels, "Classes including background")->capture_default_str();
  cmd->add_option("--in-channels", n.in_channels, "Input channels")->capture_default_str();
  cmd->add_option("--dims", n.dims, "Encoder widths of the four stages")->capture_default_str();
  cmd->add_option("--depths", n.depths, "Blocks per stage")->capture_default_str();
  cmd->add_option("--kernel-sizes", n.kernel_sizes, "Depthwise kernel per stage (1 or 4 values)");
  cmd->add_option("--hidden", n.hidden_size, "Decoder hidden size")->capture_default_str();
  cmd->add_option("--reparam", n.reparam, "bfr, structural or none (default: bfr for repuxnet)");
  cmd->add_option("--bfr-alpha", n.bfr_alpha, "BFR alpha")->capture_default_str();
  cmd->add_option("--conv-impl", n.conv_impl, "Large-kernel conv: auto, fft or direct")->capture_default_str();
  cmd->add_option("--preset", a.preset, "Preprocessing preset: flare, amos, mri")->capture_default_str();
  cmd->add_option("--spacing", a.spacing, "Target spacing in mm (overrides the preset)");
  cmd->add_option("--intensity", a.intensity, "ct, zscore or none (overrides the preset)");
  cmd->add_option("--window", a.options.preprocessing.window_min, "CT window minimum (HU)");
  cmd->add_flag("--no-crop", a.no_crop, "Do not crop to the foreground");
  cmd->add_option("--patch", a.patch, "Patch size (1 or 3 values, multiples of 16)");
  cmd->add_option("--crops", a.options.sampler.crops_per_case, "Crops per volume per step")->capture_default_str();
  cmd->add_option("--fg-ratio", a.options.sampler.foreground_ratio, "Probability of a foreground-centred crop")->capture_default_str();
  cmd->add_flag_callback("--flips", [&a] { a.options.sampler.flip_axes = {0, 1, 2}; }, "Random flips along the three axes");
  cmd->add_option("--flip-axes", a.options.sampler.flip_axes, "Random flips along these axes only (0: left-right in RAS)")
      ->check(CLI::Range(0, 2));
  cmd->add_option("--iterations", a.options.iterations, "Training iterations")->capture_default_str();
  cmd->add_option("--val-every", a.options.validate_every, "Validate every N iterations")->capture_default_str();
  cmd->add_option("--lr", a.options.learning_rate, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", a.options.weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--schedule", a.options.schedule, "none, cosine or poly")->capture_default_str();
  cmd->add_option("--warmup", a.options.warmup, "Linear warm-up iterations")->capture_default_str();
  cmd->add_option("--clip", a.options.grad_clip, "Gradient norm clipping (0: off)")->capture_default_str();
  cmd->add_option("--seed", a.options.seed, "Random seed")->capture_default_str();
  cmd->add_option("--workers", a.options.workers, "Background data workers")->capture_default_str();
  cmd->add_option("--device", a.options.device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", a.options.precision, "fp32 or bf16 (autocast; the FFT convolutions stay float32)")->capture_default_str();
  cmd->add_option("--log-every", a.options.log_every, "Progress line every N iterations")->capture_default_str();
}

TrainOptions resolve(TrainArgs a) {
  auto& o = a.options;
  o.preprocessing = a.preset == "none" ? PreprocessRecipe{} : preprocess_preset(a.preset);
  if (!a.spacing.empty()) {
    if (a.spacing.size() != 1 && a.spacing.size() != 3) fail("--spacing takes 1 or 3 values");
    o.preprocessing.spacing = std::array<double, 3>{a.spacing[0], a.spacing[a.spacing.size() == 3 ? 1 : 0], a.spacing.back()};
  }
  if (!a.intensity.empty()) o.preprocessing.intensity = a.intensity;
  if (a.no_crop) o.preprocessing.crop_foreground = false;
  o.preprocessing = preprocess_recipe_from_json(to_json(o.preprocessing));  // validates
  if (!a.patch.empty()) {
    if (a.patch.size() != 1 && a.patch.size() != 3) fail("--patch takes 1 or 3 values");
    for (int i = 0; i < 3; ++i) o.sampler.patch[i] = a.patch[a.patch.size() == 3 ? i : 0];
  }
  check_train_options(o);
  return o;
}

void print_result(const TrainResult& r, const TrainOptions& o) {
  fmt::print("best mean validation Dice {:.4f} at iteration {}; {:.3f} it/s, data wait {:.1f}% of step time\n", r.best_dice, r.best_iteration,
             r.iterations_per_second, 100 * r.data_wait_fraction);
  if (r.peak_gpu_bytes > 0) fmt::print("peak GPU memory {:.2f} GiB\n", r.peak_gpu_bytes / 1073741824.0);
  fmt::print("model: {}  curves: {}  log: {}\n", (fs::path(o.output_dir) / "best.repux").string(),
             (fs::path(o.output_dir) / "training.png").string(), (fs::path(o.output_dir) / "metrics.csv").string());
}

// Predicts every case of `cases` into pred_dir, copies their labels to gt_dir, renders overlays.
std::vector<std::string> predict_and_render(const std::string& model_path, const std::vector<CaseFiles>& cases, const fs::path& out) {
  LoadedModel model = load_model(model_path);
  PredictOptions po;
  po.window.window = model.info.preprocessing.value("patch", std::array<int64_t, 3>{96, 96, 96});
  po.window.gaussian = true;
  fs::create_directories(out / "pred");
  fs::create_directories(out / "gt");
  fs::create_directories(out / "overlays");
  std::vector<std::string> pngs;
  for (const auto& c : cases) {
    const std::string name = fs::path(c.image).filename().string();
    const Volume image = read_nifti(c.image);
    const Volume truth = read_nifti(c.label);
    const auto t0 = std::chrono::steady_clock::now();
    const Prediction p = predict_volume(model, image, po);
    write_nifti(p.labels, (out / "pred" / name).string());
    write_nifti(truth, (out / "gt" / name).string());
    const std::string png = (out / "overlays" / (name.substr(0, name.find('.')) + ".png")).string();
    write_overlay_png(image, &truth, p.labels, png);
    pngs.push_back(png);
    fmt::print("predicted {} ({:.1f} s)\n", name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return pngs;
}

}  // namespace

void add_train_commands(CLI::App& app) {
  auto check = std::make_shared<std::tuple<std::string, std::string, int64_t>>("", "", 14);
  auto* c = app.add_subcommand("check-dataset", "Check every case of a dataset before training; lists every problem");
  c->add_option("dataset", std::get<0>(*check), "Dataset JSON, or a folder with dataset.json or imagesTr/labelsTr")->required();
  c->add_option("--root", std::get<1>(*check), "Base folder for relative paths (default: the JSON's folder)");
  c->add_option("--classes", std::get<2>(*check), "Classes including background")->capture_default_str();
  c->callback([check] {
    const Dataset d = load_dataset(std::get<0>(*check), std::get<1>(*check));
    std::vector<CaseFiles> all = d.training;
    all.insert(all.end(), d.validation.begin(), d.validation.end());
    const auto problems = check_dataset(all, std::get<2>(*check));
    for (const auto& p : problems) fmt::print("{}: {}\n", p.file, p.problem);
    if (!problems.empty()) fail("{} problem(s) in {} case(s) of {}", problems.size(), all.size(), std::get<0>(*check));
    fmt::print("{} case(s) checked, no problems\n", all.size());
  });

  auto ta = std::make_shared<TrainArgs>();
  auto* t = app.add_subcommand("train", "Train a network (AdamW, Dice + CE, sliding-window validation, best/last checkpoints)");
  t->add_option("-d,--dataset", ta->options.dataset, "Dataset JSON, or a folder with dataset.json or imagesTr/labelsTr")->required();
  t->add_option("-o,--output", ta->options.output_dir, "Output folder")->required();
  t->add_option("--root", ta->options.data_root, "Base folder for relative paths");
  t->add_option("--fold", ta->options.fold, "Validation fold when the dataset has no validation list")->capture_default_str();
  t->add_option("--folds", ta->options.folds, "Number of folds")->capture_default_str();
  t->add_option("--init", ta->options.init_model, "Start from this model file (fine-tuning; the head is replaced if classes differ)");
  t->add_option("--class-names", ta->options.class_names, "Class names, background first");
  t->add_flag("--resume", ta->options.resume, "Resume exactly from OUTPUT/checkpoint.pt");
  t->add_flag("--overwrite", ta->options.overwrite, "Replace a previous run in OUTPUT (without it, such a folder is refused)");
  t->add_option("--dist-backend", ta->options.dist_backend, "Data-parallel backend when launched as a rank: gloo or nccl (default: by device)");
  t->add_flag("--sync-bn", ta->options.sync_batch_norm, "Data-parallel: BatchNorm statistics over all ranks (default: each rank's own)");
  t->add_option("--dist-timeout", ta->options.dist_timeout_seconds, "Data-parallel: seconds before a dead or hung rank stops the others")
      ->capture_default_str()->check(CLI::PositiveNumber);
  add_network_options(t, *ta);
  t->callback([ta] {
    const TrainOptions o = resolve(*ta);
    const TrainResult result = train(o);
    if (launch_environment_from_env().rank == 0) print_result(result, o);
  });

  auto ra = std::make_shared<std::array<std::string, 4>>();
  auto* r = app.add_subcommand("report", "Render slices of an image with its prediction (and ground truth) overlaid, as PNG");
  r->add_option("-i,--image", (*ra)[0], "Image NIfTI")->required();
  r->add_option("-p,--prediction", (*ra)[1], "Predicted label NIfTI")->required();
  r->add_option("-g,--truth", (*ra)[2], "Ground-truth label NIfTI (optional)");
  r->add_option("-o,--output", (*ra)[3], "PNG file to write")->required();
  r->callback([ra] {
    const Volume image = read_nifti((*ra)[0]);
    const Volume pred = read_nifti((*ra)[1]);
    if (pred.spatial_shape() != image.spatial_shape()) fail("{}: shape differs from the image {}", (*ra)[1], (*ra)[0]);
    std::unique_ptr<Volume> truth;
    if (!(*ra)[2].empty()) truth = std::make_unique<Volume>(read_nifti((*ra)[2]));
    write_overlay_png(image, truth.get(), pred, (*ra)[3]);
    fmt::print("wrote {}\n", (*ra)[3]);
  });

  auto da = std::make_shared<TrainArgs>();
  auto cases = std::make_shared<int64_t>(24);
  da->options.network.arch = "repuxnet";
  da->options.network.out_channels = static_cast<int64_t>(synth_class_names().size());
  da->options.network.dims = {8, 16, 32, 64};
  da->options.network.depths = {1, 1, 1, 1};
  da->options.network.hidden_size = 64;
  da->options.iterations = 800;
  da->options.validate_every = 100;
  da->options.learning_rate = 2e-3;
  da->options.schedule = "cosine";
  da->options.warmup = 20;
  da->options.output_dir = "demo-out";
  da->preset = "flare";
  da->spacing = {2.0, 2.0, 2.0};
  da->patch = {48};
  auto* d = app.add_subcommand("demo", "The main job: synthetic CT-like data, train a small RepUX-Net, predict held-out cases, evaluate, report");
  d->add_option("-o,--output", da->options.output_dir, "Output folder")->capture_default_str();
  d->add_option("-n,--cases", *cases, "Synthetic cases (about 20% held out)")->capture_default_str();
  add_network_options(d, *da);
  d->callback([da, cases] {
    const auto t0 = std::chrono::steady_clock::now();
    TrainArgs args = *da;
    const fs::path out(args.options.output_dir);
    args.options.dataset = write_synthetic_dataset((out / "data").string(), *cases, args.options.seed + 1);
    args.options.class_names = synth_class_names();
    args.options.output_dir = (out / "training").string();
    args.options.overwrite = true;  // the demo owns its output folder
    const TrainOptions o = resolve(args);
    fmt::print("[1/4] wrote {} synthetic CT-like cases to {}\n[2/4] training {} ({} iterations, patch {}^3) on the CPU\n", *cases,
               (out / "data").string(), o.network.arch, o.iterations, o.sampler.patch[0]);
    const TrainResult result = train(o);
    print_result(result, o);
    fmt::print("[3/4] predicting the held-out cases\n");
    const Dataset dataset = load_dataset(o.dataset);
    // The last model, not the best: the held-out cases then play no part in choosing it either.
    const auto pngs = predict_and_render((fs::path(o.output_dir) / "last.repux").string(), dataset.validation, out / "heldout");
    fmt::print("[4/4] evaluating\n");
    EvaluationOptions eo;
    eo.classes = static_cast<int64_t>(synth_class_names().size());
    eo.class_names = synth_class_names();
    const auto summary = evaluate_folders((out / "heldout" / "pred").string(), (out / "heldout" / "gt").string(), eo);
    write_evaluation(summary, (out / "summary.json").string());
    write_html_report((out / "report.html").string(), pngs, (fs::path(o.output_dir) / "training.png").string(), summary);
    for (const auto& [cls, m] : summary["mean_per_class"].items()) fmt::print("  {:<8} Dice {}\n", cls, m["dice"].dump());
    fmt::print("held-out mean Dice {:.4f} over {} cases; total {:.0f} s\nreport: {}\n", summary["mean"]["dice"].get<double>(),
               dataset.validation.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               fs::absolute(out / "report.html").string());
  });
}

}  // namespace repux::cli
