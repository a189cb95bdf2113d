// Pipeline commands: `repux synth` (synthetic CT-like dataset), `repux predict` (NIfTI in, label
// NIfTI out with the input's geometry) and `repux evaluate` (folders of predictions vs ground truth).
#include "commands.h"
#include "options.h"

#include "repux/data/synth.h"
#include "repux/error.h"
#include "repux/eval/report.h"
#include "repux/infer/predictor.h"
#include "repux/io/volume_file.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

struct PredictArgs {
  std::string model, input, output, device = "cpu", stitch_device;
  InferenceArgs inference;
  int64_t batch = 1;
  Precision precision = Precision::Float32;
  bool save_probabilities = false;
};

struct SynthArgs {
  int64_t cases = 20;
  std::string output;
  uint64_t seed = 1;
};

struct EvaluateArgs {
  std::string prediction_dir, truth_dir, output;
  EvaluationOptions options;
};

PredictOptions predict_options(const PredictArgs& a) {
  PredictOptions o;
  o.overrides = resolve_overrides(a.inference);
  o.batch_size = a.batch;
  o.compute_device = torch::Device(a.device);
  if (!a.stitch_device.empty()) o.stitch_device = torch::Device(a.stitch_device);
  o.keep_probabilities = a.save_probabilities;
  o.precision = a.precision;
  o.on_progress = [](size_t done, size_t total) {
    fmt::print(stderr, "\r  windows {}/{}{}", done, total, done == total ? "\n" : "");
  };
  return o;
}

// A folder in, a folder out (every volume of the folder); else one file.
std::vector<std::pair<std::string, std::string>> predict_jobs(const PredictArgs& a) {
  std::vector<std::pair<std::string, std::string>> jobs;
  if (fs::is_directory(a.input)) {
    for (const std::string& name : list_volume_files(a.input)) jobs.emplace_back((fs::path(a.input) / name).string(), (fs::path(a.output) / name).string());
    if (jobs.empty()) fail("{}: holds no volume files ({})", a.input, volume_path_kinds());
    fs::create_directories(a.output);
  } else {
    ensure_writable_volume(a.output);
    jobs.emplace_back(a.input, a.output);
  }
  return jobs;
}

// The model is loaded once; a case that fails is reported and the others go on.
void run_predict(const PredictArgs& a) {
  const PredictOptions o = predict_options(a);
  predict_window_options(Plan{}, o);  // checks the user's values before the model is read
  const auto jobs = predict_jobs(a);
  LoadedModel model = load_model(a.model, o.compute_device);
  int failures = 0;
  for (const auto& [in, out] : jobs) {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      const Volume image = read_volume(in, allowing_channels());
      Prediction p = predict_volume(model, image, o);
      write_volume(p.labels, out);
      if (a.save_probabilities) write_volume(p.probabilities, (fs::path(out).parent_path() / (volume_stem(fs::path(out).filename().string()) + "_probabilities.nii.gz")).string());
      fmt::print("{} -> {} ({:.1f} s)\n", in, out, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const std::exception& e) {
      ++failures;
      fmt::print(stderr, "repux: error: {}: {}\n", in, first_line(e.what()));
    }
  }
  if (failures) fail("{} of {} case(s) failed", failures, jobs.size());
}

void run_evaluate(const EvaluateArgs& a) {
  const auto summary = evaluate_folders(a.prediction_dir, a.truth_dir, a.options);
  write_evaluation(summary, a.output);
  for (const auto& [cls, m] : summary["mean_per_class"].items()) {
    fmt::print("{:<16} dice {}  hd95 {} mm  surface dice {}\n", cls, m["dice"].dump(), m["hd95_mm"].dump(), m["surface_dice"].dump());
  }
  fmt::print("mean dice {}; summary written to {}\n", summary["mean"]["dice"].dump(), a.output);
}

}  // namespace

void add_pipeline_commands(CLI::App& app) {
  auto synth = std::make_shared<SynthArgs>();
  auto* s = app.add_subcommand("synth", "Write a synthetic CT-like dataset (NIfTI images, labels, dataset.json)");
  s->add_option("-n,--cases", synth->cases, "Number of cases")->capture_default_str()->check(CLI::PositiveNumber);
  s->add_option("-o,--output", synth->output, "Output folder")->required();
  s->add_option("--seed", synth->seed, "Random seed")->capture_default_str();
  s->callback([synth] {
    const auto path = write_synthetic_dataset(synth->output, synth->cases, synth->seed);
    fmt::print("wrote {} synthetic cases and {}\n", synth->cases, path);
  });

  auto pa = std::make_shared<PredictArgs>();
  auto* p = app.add_subcommand("predict", "Segment volumes: preprocessing replayed, sliding window, labels in the input's geometry");
  p->add_option("-m,--model", pa->model, "repux model file")->required();
  p->add_option("-i,--input", pa->input, "A .nii/.nii.gz file or a folder of them")->required();
  p->add_option("-o,--output", pa->output, "Output file (or folder when the input is a folder)")->required();
  p->add_option("--device", pa->device, "cpu or cuda")->capture_default_str();
  add_enum_option(p, "--precision", pa->precision, "Autocast precision");
  p->add_option("--stitch-device", pa->stitch_device, "Where window outputs are accumulated (default: --device; cpu saves GPU memory)");
  bind_inference_overrides(p, pa->inference);
  p->add_option("--batch", pa->batch, "Windows per network call")->capture_default_str();
  p->add_flag("--save-probabilities", pa->save_probabilities, "Also write the class probabilities (4-D float NIfTI)");
  p->callback([pa] { run_predict(*pa); });

  auto ea = std::make_shared<EvaluateArgs>();
  auto* e = app.add_subcommand("evaluate", "Dice, HD95 (mm) and surface Dice per case and class; JSON and CSV summary");
  e->add_option("--pred", ea->prediction_dir, "Folder of predicted label maps")->required();
  e->add_option("--gt", ea->truth_dir, "Folder of ground-truth label maps (same file names)")->required();
  e->add_option("-o,--output", ea->output, "summary.json to write (summary.csv is written next to it)")->required();
  e->add_option("--classes", ea->options.classes, "Number of classes including background (default: from the data)");
  e->add_option("--class-names", ea->options.class_names, "Class names, background first");
  e->add_option("--tolerance", ea->options.tolerance_mm, "Surface Dice tolerance in mm")->capture_default_str();
  e->callback([ea] { run_evaluate(*ea); });
}

}  // namespace repux::cli
