#include "repux/model/postprocessing.h"

#include "repux/error.h"
#include "repux/io/json_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace repux {

nlohmann::json to_json(const Postprocessing& p) {
  nlohmann::json classes = nlohmann::json::object();
  for (const auto& [cls, rule] : p.rules) {
    classes[std::to_string(cls)] = {{"largest_only", rule.largest_only}, {"min_voxels", rule.min_voxels}};
  }
  nlohmann::json j = {{"connectivity", enum_name(p.connectivity)}, {"classes", classes}};
  if (!p.keep_largest.empty()) {
    j["keep_largest"] = nlohmann::json::array();
    for (const auto& step : p.keep_largest) j["keep_largest"].push_back({{"labels", step.labels}, {"background", step.background}});
  }
  return j;
}

void check_postprocessing(const Postprocessing& p, int64_t classes) {
  for (const auto& [cls, rule] : p.rules) {
    if (cls < 1 || cls >= classes) fail("post-processing rule for class {}: expected a class from 1 to {}", cls, classes - 1);
    if (rule.min_voxels < 0) fail("post-processing rule for class {}: min_voxels {} is negative", cls, rule.min_voxels);
  }
  for (const auto& step : p.keep_largest) {
    if (step.labels.empty()) fail("post-processing: a keep_largest step names no label");
    for (int64_t label : step.labels) {
      if (label < 1 || label >= classes) fail("post-processing keep_largest step: label {} is not a class from 1 to {}", label, classes - 1);
    }
    if (step.background < 0 || step.background >= classes) fail("post-processing keep_largest step: background {} is not a class", step.background);
  }
}

Postprocessing postprocessing_from_json(const nlohmann::json& j, int64_t classes) {
  Postprocessing p;
  if (j.is_null()) return p;
  if (!j.is_object()) fail("post-processing: expected a JSON object, got {}", j.type_name());
  check_known_keys(j, {"connectivity", "classes", "keep_largest"}, "the post-processing");
  try {
    if (j.contains("connectivity")) p.connectivity = enum_from_name<Connectivity>(field_or<std::string>(j, "connectivity", ""));
    const nlohmann::json classes_json = field_or(j, "classes", nlohmann::json::object());
    for (const auto& [key, rule] : classes_json.items()) {
      std::size_t used = 0;
      const int64_t cls = std::stoll(key, &used);
      if (used != key.size()) fail("post-processing: class '{}' is not a class index", key);
      check_known_keys(rule, {"largest_only", "min_voxels"}, fmt::format("the post-processing rule of class {}", key));
      p.rules[cls] = {field_or(rule, "largest_only", false), field_or(rule, "min_voxels", int64_t{0})};
    }
    for (const auto& step : field_or(j, "keep_largest", nlohmann::json::array())) {
      check_known_keys(step, {"labels", "background"}, "a post-processing keep_largest step");
      p.keep_largest.push_back({field_or(step, "labels", std::vector<int64_t>{}), field_or(step, "background", int64_t{0})});
    }
  } catch (const std::logic_error& e) {  // std::stoll; repux::Error is a runtime_error
    fail("post-processing: a class key is not a class index");
  }
  check_postprocessing(p, classes);
  return p;
}

std::string describe(const Postprocessing& p, const std::vector<std::string>& class_names) {
  std::string out;
  for (const auto& [cls, rule] : p.rules) {
    const std::string name = cls < static_cast<int64_t>(class_names.size()) ? class_names[static_cast<size_t>(cls)] : "?";
    std::string what;
    if (rule.largest_only) what = "largest component";
    if (rule.min_voxels > 0) what += (what.empty() ? "" : ", ") + fmt::format("components below {} voxels removed", rule.min_voxels);
    if (what.empty()) continue;
    out += fmt::format("{}{} ({}): {}", out.empty() ? "" : "; ", cls, name, what);
  }
  for (const auto& step : p.keep_largest) {
    std::vector<std::string> names;
    for (int64_t label : step.labels) {
      names.push_back(fmt::format("{} ({})", label, label < static_cast<int64_t>(class_names.size()) ? class_names[static_cast<size_t>(label)] : "?"));
    }
    out += fmt::format("{}{}: largest component{}", out.empty() ? "" : "; ", fmt::join(names, " + "), names.size() > 1 ? " of them together" : "");
  }
  return out.empty() ? "none" : out + fmt::format(" ({}-connected)", enum_name(p.connectivity));
}

}  // namespace repux
