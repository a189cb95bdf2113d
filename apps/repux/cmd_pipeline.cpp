// Pipeline commands: `repux synth` (synthetic CT-like dataset) and `repux evaluate` (folders of
// predictions vs ground truth). `repux predict` has a file of its own (cmd_predict.cpp).
#include "commands.h"
#include "options.h"

#include "repux/data/synth.h"
#include "repux/data/synth_context.h"
#include "repux/error.h"
#include "repux/eval/report.h"

#include <fmt/format.h>



namespace repux::cli {
namespace {

struct SynthArgs {
  int64_t cases = 20;
  std::string output;
  uint64_t seed = 1;
  SynthTask task = SynthTask::Organs;
  bool full_size = false;
};

struct EvaluateArgs {
  std::string prediction_dir, truth_dir, output;
  EvaluationOptions options;
};

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
  add_enum_option(s, "--task", synth->task,
                  "organs: liver, spleen, kidney told apart by intensity and shape; context: two alike organs told apart only by "
                  "the side of a distant landmark they lie on (train without --flips)");
  s->add_flag("--full-size", synth->full_size, "Organs at clinical size: 512 x 512 x 150-300 voxels, 0.6-0.9 mm in-plane, 1.5-3 mm slices");
  s->callback([synth] {
    if (synth->full_size && synth->task != SynthTask::Organs) fail("--full-size makes the organs task only");
    const auto path = synth->full_size                    ? write_full_size_dataset(synth->output, synth->cases, synth->seed)
                      : synth->task == SynthTask::Context ? write_context_dataset(synth->output, synth->cases, synth->seed)
                                                          : write_synthetic_dataset(synth->output, synth->cases, synth->seed);
    fmt::print("wrote {} synthetic cases and {}\n", synth->cases, path);
  });

  auto ea = std::make_shared<EvaluateArgs>();
  auto* e = app.add_subcommand("evaluate", "Dice, HD95 (mm) and surface Dice per case and class; JSON and CSV summary");
  e->add_option("--pred", ea->prediction_dir, "Folder of predicted label maps")->required();
  e->add_option("--gt", ea->truth_dir, "Folder of ground-truth label maps (same names; NIfTI or DICOM SEG)")->required();
  e->add_option("-o,--output", ea->output, "summary.json to write (summary.csv is written next to it)")->required();
  e->add_option("--classes", ea->options.classes, "Number of classes including background (default: from the data)");
  e->add_option("--class-names", ea->options.class_names, "Class names, background first");
  e->add_option("--tolerance", ea->options.tolerance_mm, "Surface Dice tolerance in mm")->capture_default_str();
  e->callback([ea] { run_evaluate(*ea); });
}

}  // namespace repux::cli
