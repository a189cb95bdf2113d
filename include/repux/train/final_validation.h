#pragma once
// After training, the validation cases predicted with the final model in their original geometry and
// scored, as nnU-Net's trainer does at the end of a fold: RUN/validation/CASE.nii.gz, summary.json (and
// .csv: per case and per class Dice, HD95, surface Dice; the means; the class names), overlays/, a viewer
// page per case (view/CASE.html: image, prediction, ground truth and their errors) and RUN/report.html. `repux cross-validate` gathers the folds' validation/ folders.
#include "repux/data/dataset.h"
#include "repux/eval/evaluation_summary.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace repux {

struct FinalValidationOptions {
  std::string model;       // the model file to predict with
  std::string run_folder;  // validation/ and report.html go here
  std::vector<std::string> class_names;  // background first
  LabelRegions regions;                  // region-based labels: scored per region
  std::optional<int64_t> ignore_label;
  std::string curves_png;  // the training curves shown in the report ("" : none)
  torch::Device device = torch::kCPU;
};

inline const char* validation_folder_name() { return "validation"; }

// The viewer pages written by validate_final_model, by case name as the summary names them (those
// that exist: none when NiiVue's bundle was not installed).
std::map<std::string, std::string> validation_viewer_pages(const std::string& run_folder, const EvaluationSummary& summary);

// Predicts and scores `cases` (their source files, which must still exist); returns the summary written.
EvaluationSummary validate_final_model(const std::vector<CaseFiles>& cases, const FinalValidationOptions& options);

}  // namespace repux
