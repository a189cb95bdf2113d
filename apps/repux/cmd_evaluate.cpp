// `repux evaluate`: a folder of predictions against a folder of ground truths, Dice, HD95 and surface
// Dice per case and class, written as summary.json and summary.csv.
#include "commands.h"
#include "options.h"

#include "repux/eval/folder_evaluation.h"

#include <fmt/format.h>

#include <cmath>

namespace repux::cli {
namespace {

// As JSON writes a metric: the shortest exact decimal, or null when not finite.
std::string metric_text(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }

struct EvaluateArgs {
  std::string prediction_dir, truth_dir, output;
  EvaluationOptions options;
};

void run_evaluate(const EvaluateArgs& a) {
  const auto summary = evaluate_folders(a.prediction_dir, a.truth_dir, a.options);
  write_evaluation(summary, a.output);
  for (size_t k = 0; k < summary.class_names.size(); ++k) {
    const ClassMetrics& m = summary.mean_per_class[k];
    fmt::print("{:<16} dice {}  hd95 {} mm  surface dice {}\n", summary.class_names[k], metric_text(m.dice), metric_text(m.hd95),
               metric_text(m.surface_dice));
  }
  fmt::print("mean dice {}; summary written to {}\n", metric_text(summary.mean.dice), a.output);
}

}  // namespace

void add_evaluate_command(CLI::App& app) {
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
