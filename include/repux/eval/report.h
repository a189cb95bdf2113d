#pragma once
// Evaluation of a folder of predictions against a folder of ground truths: per case and per class
// metrics, means per class and overall, written as JSON and CSV.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace repux {

struct EvaluationOptions {
  int64_t classes = 0;  // 0: from the largest label found
  std::vector<std::string> class_names;
  double tolerance_mm = 2.0;
};

// Pairs files by name; a prediction without ground truth (or the reverse) is an error listing them.
nlohmann::json evaluate_folders(const std::string& prediction_dir, const std::string& truth_dir, const EvaluationOptions& options);
// Writes summary.json and, next to it, summary.csv (one row per case and class), atomically.
void write_evaluation(const nlohmann::json& summary, const std::string& json_path);

}  // namespace repux
