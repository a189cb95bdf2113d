// `repux evaluate`: a folder of predictions against a folder of ground truths, Dice, HD95 and surface
// Dice per case and class, written as summary.json and summary.csv. `repux cross-validate`: the folds'
// validation predictions (RUN/fold_K/validation/) gathered into one folder and scored together, as
// nnU-Net's cross-validation results are. `--report` adds an HTML page of the tables (sortable), each
// case linked to a viewer page when `--images` gives the images.
#include "commands.h"
#include "options.h"

#include "repux/data/dataset.h"
#include "repux/error.h"
#include "repux/eval/folder_evaluation.h"
#include "repux/eval/html_report.h"
#include "repux/eval/viewer_page.h"
#include "repux/io/atomic_file.h"
#include "repux/io/json_file.h"
#include "repux/io/volume_file.h"
#include "repux/train/final_validation.h"
#include "repux/train/trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

namespace repux::cli {
namespace {

namespace fs = std::filesystem;

// A metric in the table: fixed decimals, or n/a when not finite (no ground truth, or an empty side).
std::string metric_text(double v, int decimals) { return fixed_or(v, decimals, "n/a"); }

struct EvaluateArgs {
  std::string prediction_dir, truth_dir, output;
  std::string dataset;  // --dataset: its dataset.json's labels (names, ignore, regions)
  std::string report, images;  // --report page.html; --images: the cases' images, for viewer pages
  EvaluationOptions options;
};

// The labels of a dataset (as nnU-Net's evaluate_folder takes -djfile): class names, ignore label,
// regions; --classes / --class-names, when given too, must agree.
void adopt_dataset_labels(EvaluateArgs& a) {
  const Dataset d = load_dataset(a.dataset);
  EvaluationOptions& o = a.options;
  o.classes = dataset_classes(d, o.classes > 0 ? std::optional<int64_t>(o.classes) : std::nullopt, a.dataset);
  if (!o.class_names.empty() && o.class_names != d.class_names) fail("--class-names contradicts the labels of {}", a.dataset);
  o.class_names = d.regions.empty() ? d.class_names : std::vector<std::string>{};
  o.ignore_label = d.ignore_label;
  o.regions = d.regions;
}

// Without --dataset, --classes or --class-names, a ground-truth folder inside a dataset (labelsTr/ or
// labelsTs/ beside its dataset.json) names the labels, as -d DATASET would; said on the terminal.
void adopt_enclosing_dataset(EvaluateArgs& a) {
  if (!a.dataset.empty() || a.options.classes > 0 || !a.options.class_names.empty()) return;
  fs::path truth(a.truth_dir);
  if (!truth.has_filename()) truth = truth.parent_path();  // "labelsTs/"
  const fs::path candidate = truth.parent_path() / "dataset.json";
  std::error_code ec;
  if (!fs::is_regular_file(candidate, ec)) return;
  a.dataset = candidate.string();
  fmt::print("labels from {} (names, ignore label, regions; --classes or --class-names to give your own)\n", a.dataset);
}

// The means per class, in label order, as a table.
void print_summary(const EvaluationSummary& summary, const std::string& output) {
  size_t width = 5;
  for (const auto& name : summary.class_names) width = std::max(width, name.size());
  const std::string surface = fmt::format("surface Dice ({:g} mm)", summary.tolerance_mm);
  fmt::print("{:<{}}  {:>6}  {:>9}  {:>{}}\n", "class", width, "Dice", "HD95 (mm)", surface, surface.size());
  auto row = [&](const std::string& name, const ClassMetrics& m) {
    fmt::print("{:<{}}  {:>6}  {:>9}  {:>{}}\n", name, width, metric_text(m.dice, 4), metric_text(m.hd95, 2), metric_text(m.surface_dice, 4),
               surface.size());
  };
  for (size_t k = 0; k < summary.class_names.size(); ++k) row(summary.class_names[k], summary.mean_per_class[k]);
  row("mean", summary.mean);
  fmt::print("{} case(s); summary written to {} (and .csv)\n", summary.cases.size(), output);
}

// The image of case NAME in the images folder: NAME itself or nnU-Net's NAME_0000 (first channel).
std::string case_image(const std::string& images, const std::string& name) {
  const std::string stem = volume_stem(name), suffix = volume_suffix(name);
  for (const std::string& candidate : {stem + "_0000" + suffix, name}) {
    if (fs::exists(fs::path(images) / candidate)) return (fs::path(images) / candidate).string();
  }
  fail("--images {}: no image for case {} (expected {}_0000{} or {})", images, name, stem, suffix, name);
}

// The page, and with --images one viewer page per case in REPORT_view/ (sharing NiiVue's bundle).
void write_report(const EvaluateArgs& a, const EvaluationSummary& summary) {
  ReportContents contents;
  contents.summary = &summary;
  if (!a.images.empty()) {
    const fs::path folder = fs::path(a.report).parent_path() / (fs::path(a.report).stem().string() + "_view");
    fs::create_directories(folder);
    ViewerPageOptions options;
    options.library_src = copy_niivue_bundle(folder.string());
    std::vector<std::string> names{""};
    names.insert(names.end(), summary.class_names.begin(), summary.class_names.end());
    for (const CaseEvaluation& c : summary.cases) {
      const Volume image = read_volume(case_image(a.images, c.name), allowing_channels());
      const Volume prediction = read_label_volume((fs::path(a.prediction_dir) / c.name).string(), image.grid());
      const Volume truth = read_label_volume((fs::path(a.truth_dir) / c.name).string(), image.grid());
      const std::string page = (folder / (volume_stem(c.name) + ".html")).string();
      write_viewer_page({c.name, &image, &prediction, &truth, names}, page, options);
      contents.viewer_pages[c.name] = page;
    }
  }
  write_html_report(a.report, contents);
  fmt::print("report: {}{}\n", a.report, a.images.empty() ? "" : fmt::format(" ({} viewer pages)", contents.viewer_pages.size()));
}

void run_evaluate(EvaluateArgs a) {
  adopt_enclosing_dataset(a);
  if (!a.dataset.empty()) adopt_dataset_labels(a);
  // The output's folder is made before the work, as predict does, and a file that cannot be written is
  // refused before it.
  if (const fs::path parent = fs::path(a.output).parent_path(); !parent.empty()) fs::create_directories(parent);
  ensure_writable(a.output);
  if (!a.report.empty() && !ends_with(a.report, ".html")) fail("--report {}: expected an .html page", a.report);
  if (!a.images.empty() && a.report.empty()) fail("--images {}: only used with --report (its viewer pages)", a.images);
  const auto summary = evaluate_folders(a.prediction_dir, a.truth_dir, a.options);
  write_evaluation(summary, a.output);
  print_summary(summary, a.output);
  if (!a.report.empty()) write_report(a, summary);
}

struct CrossValidateArgs {
  std::vector<std::string> runs;
  std::string truth_dir, output;
};

// The fold run folders: each argument a run folder (with validation/), or a folder of them (fold_0, ...).
std::vector<fs::path> fold_runs(const std::vector<std::string>& arguments) {
  std::vector<fs::path> runs;
  for (const fs::path argument : arguments) {
    if (fs::is_directory(argument / validation_folder_name())) {
      runs.push_back(argument);
      continue;
    }
    std::vector<fs::path> folds;
    if (fs::is_directory(argument)) {
      for (const auto& entry : fs::directory_iterator(argument)) {
        if (fs::is_directory(entry.path() / validation_folder_name())) folds.push_back(entry.path());
      }
    }
    if (folds.empty()) fail("{}: neither a training run with {}/ nor a folder of such runs", argument.string(), validation_folder_name());
    std::sort(folds.begin(), folds.end());
    runs.insert(runs.end(), folds.begin(), folds.end());
  }
  return runs;
}

// The classes, names and ignore label of the first run (its plan.json and dataset.json); the others must agree.
EvaluationOptions run_evaluation_options(const std::vector<fs::path>& runs) {
  EvaluationOptions o;
  for (const auto& run : runs) {
    const auto plan = read_json_file((run / TrainOutputs::plan()).string());
    const auto names = field_or<std::vector<std::string>>(plan, "class_names", {});
    if (!o.class_names.empty() && names != o.class_names) fail("{}: other classes than {}", run.string(), runs.front().string());
    o.class_names = names;
    if (plan.contains("regions")) o.regions = label_regions_from_json(plan["regions"], (run / TrainOutputs::plan()).string() + ": field 'regions'");
    const auto dataset = read_json_file((run / TrainOutputs::dataset()).string());
    const auto labels = dataset.value("labels", nlohmann::json::object());
    if (labels.contains("ignore") && labels["ignore"].is_number_integer()) o.ignore_label = labels["ignore"].get<int64_t>();
  }
  o.classes = o.regions.empty() ? static_cast<int64_t>(o.class_names.size()) : 0;
  return o;
}

void run_cross_validate(const CrossValidateArgs& a) {
  const auto runs = fold_runs(a.runs);
  const fs::path out(a.output), gathered = out / "predictions";
  refuse_writing_over_inputs({a.truth_dir}, a.output);
  fs::create_directories(gathered);
  std::set<std::string> seen;
  std::vector<LabelledPair> pairs;
  for (const auto& run : runs) {
    for (const auto& name : list_volume_files((run / validation_folder_name()).string())) {
      if (!seen.insert(name).second) fail("{}: case {} is validated in two folds; the folds must not overlap", run.string(), name);
      fs::copy_file(run / validation_folder_name() / name, gathered / name, fs::copy_options::overwrite_existing);
    }
  }
  for (const auto& pair : pairs_in_folders(gathered.string(), a.truth_dir)) pairs.push_back(pair);
  const EvaluationSummary summary = evaluate_pairs(pairs, run_evaluation_options(runs));
  write_evaluation(summary, (out / "summary.json").string());
  fmt::print("{} fold(s), {} case(s)\n", runs.size(), pairs.size());
  print_summary(summary, (out / "summary.json").string());
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
  e->add_option("-d,--dataset", ea->dataset,
                 "A dataset (folder or dataset.json) whose labels to score by: class names, the ignore label, regions (per region)");
  e->add_option("--report", ea->report, "Also an HTML page of the tables (sortable), each case linked to its viewer page with --images");
  e->add_option("--images", ea->images, "Folder of the cases' images (NAME or NAME_0000), for --report's viewer pages");
  e->add_option("--tolerance", ea->options.tolerance_mm, "Surface Dice tolerance in mm")->capture_default_str();
  e->callback([ea] { run_evaluate(*ea); });

  auto ca = std::make_shared<CrossValidateArgs>();
  auto* c = app.add_subcommand("cross-validate",
                               "Gather the folds' validation predictions (RUN/validation/) into OUTPUT/predictions/ and score them together "
                               "against the ground truths (OUTPUT/summary.json and .csv)");
  c->add_option("runs", ca->runs, "Fold run folders, or a folder holding them (fold_0 ... fold_4)")->required();
  c->add_option("--gt", ca->truth_dir, "Folder of the ground truths (the dataset's labelsTr/)")->required();
  c->add_option("-o,--output", ca->output, "Output folder")->required();
  c->callback([ca] { run_cross_validate(*ca); });
}

}  // namespace repux::cli
