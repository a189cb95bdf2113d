#include "repux/eval/evaluation_summary.h"

#include "repux/error.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <sstream>

namespace repux {
namespace {

constexpr const char* kConventions =
    "Dice/HD95 NaN (null) when the ground truth is empty; HD95 null (inf) when only the prediction is empty; "
    "surface Dice 0 when one side is empty; means skip null";

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

double number_from(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) fail("evaluation summary: {} has no '{}'", where, key);
  const auto& v = j[key];
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!v.is_number()) fail("evaluation summary: {} '{}' is not a number", where, key);
  return v.get<double>();
}

nlohmann::json metrics_json(const ClassMetrics& m) {
  return {{"dice", number(m.dice)}, {"hd95_mm", number(m.hd95)}, {"surface_dice", number(m.surface_dice)}};
}

ClassMetrics metrics_from(const nlohmann::json& j, const std::string& where) {
  return {number_from(j, "dice", where), number_from(j, "hd95_mm", where), number_from(j, "surface_dice", where)};
}

// The metrics of `names`, in that order, from an object keyed by class name.
std::vector<ClassMetrics> per_class_from(const nlohmann::json& j, const std::vector<std::string>& names, const std::string& where) {
  if (!j.is_object()) fail("evaluation summary: {} is not an object of classes", where);
  if (j.size() != names.size()) fail("evaluation summary: {} holds {} classes, expected {}", where, j.size(), names.size());
  std::vector<ClassMetrics> out;
  for (const auto& name : names) {
    if (!j.contains(name)) fail("evaluation summary: {} has no class '{}'", where, name);
    out.push_back(metrics_from(j[name], where + " class '" + name + "'"));
  }
  return out;
}

std::string cell(double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : "nan"; }

}  // namespace

void compute_means(EvaluationSummary& s) {
  const size_t classes = s.class_names.size();
  s.mean_per_class.assign(classes, ClassMetrics{});
  std::vector<double> class_dice, class_hd, class_nsd;
  for (size_t k = 0; k < classes; ++k) {
    std::vector<double> dice, hd, nsd;
    for (const auto& c : s.cases) {
      dice.push_back(c.classes.at(k).dice);
      hd.push_back(c.classes.at(k).hd95);
      nsd.push_back(c.classes.at(k).surface_dice);
    }
    s.mean_per_class[k] = {mean_of_finite(dice), mean_of_finite(hd), mean_of_finite(nsd)};
    class_dice.push_back(s.mean_per_class[k].dice);
    class_hd.push_back(s.mean_per_class[k].hd95);
    class_nsd.push_back(s.mean_per_class[k].surface_dice);
  }
  s.mean = {mean_of_finite(class_dice), mean_of_finite(class_hd), mean_of_finite(class_nsd)};
}

nlohmann::json to_json(const EvaluationSummary& s) {
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& c : s.cases) {
    nlohmann::json classes = nlohmann::json::object();
    for (size_t k = 0; k < s.class_names.size(); ++k) classes[s.class_names[k]] = metrics_json(c.classes.at(k));
    cases.push_back({{"case", c.name}, {"classes", classes}});
  }
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t k = 0; k < s.class_names.size(); ++k) per_class[s.class_names[k]] = metrics_json(s.mean_per_class.at(k));
  return {{"class_names", s.class_names},
          {"cases", cases},
          {"mean_per_class", per_class},
          {"mean", metrics_json(s.mean)},
          {"surface_dice_tolerance_mm", s.tolerance_mm},
          {"conventions", kConventions}};
}

EvaluationSummary evaluation_summary_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("evaluation summary: expected a JSON object, got {}", j.type_name());
  EvaluationSummary s;
  if (!j.contains("class_names") || !j["class_names"].is_array()) fail("evaluation summary: no 'class_names' list");
  for (const auto& name : j["class_names"]) {
    if (!name.is_string()) fail("evaluation summary: a class name is not a string");
    s.class_names.push_back(name.get<std::string>());
  }
  if (!j.contains("cases") || !j["cases"].is_array()) fail("evaluation summary: no 'cases' list");
  for (const auto& c : j["cases"]) {
    if (!c.is_object() || !c.contains("case") || !c["case"].is_string()) fail("evaluation summary: a case has no name");
    const std::string name = c["case"].get<std::string>();
    s.cases.push_back({name, per_class_from(c.value("classes", nlohmann::json()), s.class_names, "case '" + name + "'")});
  }
  s.mean_per_class = per_class_from(j.value("mean_per_class", nlohmann::json()), s.class_names, "mean_per_class");
  s.mean = metrics_from(j.value("mean", nlohmann::json()), "mean");
  s.tolerance_mm = number_from(j, "surface_dice_tolerance_mm", "the summary");
  return s;
}

std::string evaluation_csv(const EvaluationSummary& s) {
  std::ostringstream f;
  f << "case,class,dice,hd95_mm,surface_dice\n";
  auto row = [&](const std::string& name, size_t k, const ClassMetrics& m) {
    f << name << "," << s.class_names[k] << "," << cell(m.dice) << "," << cell(m.hd95) << "," << cell(m.surface_dice) << "\n";
  };
  for (const auto& c : s.cases) {
    for (size_t k = 0; k < s.class_names.size(); ++k) row(c.name, k, c.classes.at(k));
  }
  for (size_t k = 0; k < s.class_names.size(); ++k) row("mean", k, s.mean_per_class.at(k));
  return f.str();
}

}  // namespace repux
