#include "repux/data/labels.h"

#include "repux/error.h"

#include <fstream>
#include <sstream>

namespace repux {

std::vector<std::string> default_class_names(int64_t classes) {
  std::vector<std::string> names{"background"};
  for (int64_t c = 1; c < classes; ++c) names.push_back("class" + std::to_string(c));
  return names;
}

LabelMap read_label_map(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open label map", path);
  LabelMap map;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string first;
    if (!(fields >> first)) continue;  // blank or comment-only line
    int64_t from = 0, to = 0;
    std::string extra;
    std::istringstream first_field(first);
    if (!(first_field >> from) || !first_field.eof() || !(fields >> to) || (fields >> extra)) {
      fail("{}:{}: expected two integers 'old new', got '{}'", path, number, line);
    }
    if (from < 0 || to < 0) fail("{}:{}: labels must not be negative", path, number);
    if (!map.mapping.emplace(from, to).second) fail("{}:{}: label {} is mapped twice", path, number, from);
  }
  if (map.mapping.empty()) fail("{}: no 'old new' pairs", path);
  return map;
}

torch::Tensor remap_labels(const torch::Tensor& labels, const LabelMap& map) {
  auto values = labels.to(torch::kFloat64);
  if (!values.isfinite().all().item<bool>() || !values.eq(values.round()).all().item<bool>()) {
    fail("label image has values that are not whole numbers (is it an intensity image?)");
  }
  const auto as_int = values.to(torch::kInt64);
  const int64_t max_label = as_int.max().item<int64_t>();
  if (as_int.min().item<int64_t>() < 0) fail("label image has negative values");
  if (max_label > 100000000) fail("label image has a label {} too large to remap", max_label);
  // A lookup table over 0..max: one gather instead of one pass per label.
  auto table = map.keep_unlisted ? torch::arange(max_label + 1, torch::kInt64)
                                 : torch::full({max_label + 1}, map.unlisted, torch::kInt64);
  for (const auto& [from, to] : map.mapping) {
    if (from <= max_label) table[from] = to;
  }
  return table.to(as_int.device()).index({as_int});
}

std::string label_value_problem(const torch::Tensor& labels, int64_t classes) {
  if (labels.numel() == 0) return "the label map is empty";
  const double lo = labels.min().item<double>(), hi = labels.max().item<double>();
  if (lo < 0 || (classes > 0 && hi > classes - 1)) {
    return classes > 0 ? fmt::format("label values span {}..{}, expected 0..{}", lo, hi, classes - 1)
                       : fmt::format("label values span {}..{}, expected 0 or more", lo, hi);
  }
  if (labels.is_floating_point() && !torch::equal(labels, labels.round())) return "label values are not integers";
  return "";
}

}  // namespace repux
