// Pipeline commands: `repux synth` (synthetic CT-like dataset), `repux predict` (NIfTI in, label
// NIfTI out with the input's geometry) and `repux evaluate` (folders of predictions vs ground truth).
#include "commands.h"

#include "repux/data/synth.h"
#include "repux/error.h"
#include "repux/eval/report.h"
#include "repux/infer/predictor.h"
#include "repux/io/nifti.h"
#include "repux/io/paths.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

struct PredictArgs {
  std::string model, input, output, device = "cpu", stitch_device, precision = "fp32";
  double overlap = 0.5;
  int64_t batch = 1;
  std::vector<int64_t> window;
  bool gaussian = false, tta = false, save_probabilities = false;
};

int run_predict(const PredictArgs& a) {
  const torch::Device device(a.device);
  PredictOptions o;
  o.window.overlap = a.overlap;
  o.window.batch_size = a.batch;
  o.window.gaussian = a.gaussian;
  o.window.compute_device = device;
  o.window.stitch_device = a.stitch_device.empty() ? device : torch::Device(a.stitch_device);
  o.window.progress = true;
  if (a.tta) o.window.mirror_axes = {0, 1, 2};
  if (!a.window.empty()) {
    if (a.window.size() != 1 && a.window.size() != 3) fail("--window takes 1 or 3 sizes, got {}", a.window.size());
    for (int i = 0; i < 3; ++i) o.window.window[i] = a.window[a.window.size() == 1 ? 0 : i];
  }
  o.keep_probabilities = a.save_probabilities;
  o.precision = parse_precision(a.precision);
  check_window_options(o.window);  // settings are checked before the model is read
  LoadedModel model = load_model(a.model, device);
  if (a.window.empty() && model.info.preprocessing.contains("patch")) {
    o.window.window = model.info.preprocessing["patch"].get<std::array<int64_t, 3>>();
  }

  // A folder in, a folder out: every case, the model loaded once; failures reported, not fatal.
  std::vector<std::pair<std::string, std::string>> jobs;
  if (fs::is_directory(a.input)) {
    fs::create_directories(a.output);
    for (const auto& e : fs::directory_iterator(a.input)) {
      const std::string name = e.path().filename().string();
      if (is_nifti_path(name) && name[0] != '.') jobs.emplace_back(e.path().string(), (fs::path(a.output) / name).string());
    }
    std::sort(jobs.begin(), jobs.end());
    if (jobs.empty()) fail("{}: no .nii or .nii.gz files", a.input);
  } else {
    ensure_writable_nifti(a.output);
    jobs.emplace_back(a.input, a.output);
  }
  int failures = 0;
  for (const auto& [in, out] : jobs) {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      const Volume image = read_nifti(in, {.allow_channels = true});
      Prediction p = predict_volume(model, image, o);
      write_nifti(p.labels, out);
      if (a.save_probabilities) {
        std::string prob = out.substr(0, out.size() - (ends_with(out, ".nii.gz") ? 7 : 4)) + "_probabilities.nii.gz";
        write_nifti(p.probabilities, prob);
      }
      fmt::print("{} -> {} ({:.1f} s)\n", in, out, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const std::exception& e) {
      ++failures;
      fmt::print(stderr, "repux: error: {}: {}\n", in, first_line(e.what()));
    }
  }
  if (failures) fail("{} of {} case(s) failed", failures, jobs.size());
  return 0;
}

}  // namespace

void add_pipeline_commands(CLI::App& app) {
  auto synth = std::make_shared<std::tuple<int64_t, std::string, uint64_t>>(20, "", 1);
  auto* s = app.add_subcommand("synth", "Write a synthetic CT-like dataset (NIfTI images, labels, dataset.json)");
  s->add_option("-n,--cases", std::get<0>(*synth), "Number of cases")->capture_default_str()->check(CLI::PositiveNumber);
  s->add_option("-o,--output", std::get<1>(*synth), "Output folder")->required();
  s->add_option("--seed", std::get<2>(*synth), "Random seed")->capture_default_str();
  s->callback([synth] {
    const auto path = write_synthetic_dataset(std::get<1>(*synth), std::get<0>(*synth), std::get<2>(*synth));
    fmt::print("wrote {} synthetic cases and {}\n", std::get<0>(*synth), path);
  });

  auto pa = std::make_shared<PredictArgs>();
  auto* p = app.add_subcommand("predict", "Segment NIfTI volumes: preprocessing replayed, sliding window, labels in the input's geometry");
  p->add_option("-m,--model", pa->model, "repux model file")->required();
  p->add_option("-i,--input", pa->input, "A .nii/.nii.gz file or a folder of them")->required();
  p->add_option("-o,--output", pa->output, "Output file (or folder when the input is a folder)")->required();
  p->add_option("--device", pa->device, "cpu or cuda")->capture_default_str();
  p->add_option("--precision", pa->precision, "fp32 or bf16 (autocast)")->capture_default_str();
  p->add_option("--stitch-device", pa->stitch_device, "Where window outputs are accumulated (default: --device; cpu saves GPU memory)");
  p->add_option("--overlap", pa->overlap, "Window overlap in [0, 1)")->capture_default_str();
  p->add_option("--window", pa->window, "Window size (1 or 3 values; default: the model's training patch, else 96)");
  p->add_option("--batch", pa->batch, "Windows per network call")->capture_default_str();
  p->add_flag("--gaussian", pa->gaussian, "Gaussian blending (sigma = window/8) instead of constant");
  p->add_flag("--tta", pa->tta, "Mirroring test-time augmentation over the three axes");
  p->add_flag("--save-probabilities", pa->save_probabilities, "Also write the class probabilities (4-D float NIfTI)");
  p->callback([pa] { run_predict(*pa); });

  auto ea = std::make_shared<std::tuple<std::string, std::string, std::string, EvaluationOptions>>();
  auto* e = app.add_subcommand("evaluate", "Dice, HD95 (mm) and surface Dice per case and class; JSON and CSV summary");
  e->add_option("--pred", std::get<0>(*ea), "Folder of predicted label maps")->required();
  e->add_option("--gt", std::get<1>(*ea), "Folder of ground-truth label maps (same file names)")->required();
  e->add_option("-o,--output", std::get<2>(*ea), "summary.json to write (summary.csv is written next to it)")->required();
  e->add_option("--classes", std::get<3>(*ea).classes, "Number of classes including background (default: from the data)");
  e->add_option("--class-names", std::get<3>(*ea).class_names, "Class names, background first");
  e->add_option("--tolerance", std::get<3>(*ea).tolerance_mm, "Surface Dice tolerance in mm")->capture_default_str();
  e->callback([ea] {
    const auto summary = evaluate_folders(std::get<0>(*ea), std::get<1>(*ea), std::get<3>(*ea));
    write_evaluation(summary, std::get<2>(*ea));
    for (const auto& [cls, m] : summary["mean_per_class"].items()) {
      fmt::print("{:<16} dice {}  hd95 {} mm  surface dice {}\n", cls, m["dice"].dump(), m["hd95_mm"].dump(), m["surface_dice"].dump());
    }
    fmt::print("mean dice {}; summary written to {}\n", summary["mean"]["dice"].dump(), std::get<2>(*ea));
  });
}

}  // namespace repux::cli
