#pragma once
// The result of evaluating predictions against ground truths, typed: per case and per class metrics,
// the means per class and overall. `repux evaluate` writes it as summary.json (to_json) and
// summary.csv; the demo and the HTML report read the fields, never JSON keys.
// Conventions (as in the JSON): Dice and HD95 NaN when the ground truth is empty; HD95 +inf when only
// the prediction is empty; surface Dice 0 when one side is empty; means skip what is not finite. The
// JSON writes a value that is not finite as null (and reads null back as NaN).
#include "repux/eval/metrics.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace repux {

struct CaseEvaluation {
  std::string name;
  std::vector<ClassMetrics> classes;  // classes 1..K-1, in class order
};

struct EvaluationSummary {
  std::vector<std::string> class_names;  // of classes 1..K-1 (background not evaluated)
  std::vector<CaseEvaluation> cases;
  std::vector<ClassMetrics> mean_per_class;  // over the cases, per class
  ClassMetrics mean;                         // over the classes
  double tolerance_mm = 2.0;                 // of the surface Dice
};

// The means of `summary.cases` (per class, then over the classes), skipping what is not finite.
void compute_means(EvaluationSummary& summary);

nlohmann::json to_json(const EvaluationSummary& summary);
// Reads what to_json wrote; an error names the first field that is missing or of the wrong type.
EvaluationSummary evaluation_summary_from_json(const nlohmann::json& j);
// One row per case and class, then one per class for the means: case,class,dice,hd95_mm,surface_dice.
std::string evaluation_csv(const EvaluationSummary& summary);

}  // namespace repux
