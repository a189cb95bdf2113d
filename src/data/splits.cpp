#include "repux/data/splits.h"

#include "repux/error.h"
#include "repux/io/json_file.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

namespace repux {
namespace {

// NumPy's legacy random_interval(max): the smallest all-ones mask covering max, 32-bit draws
// rejected until the masked value is at most max (max < 2^32 here).
uint32_t random_interval(std::mt19937& mt, uint32_t max) {
  uint32_t mask = max;
  for (int shift : {1, 2, 4, 8, 16}) mask |= mask >> shift;
  uint32_t value = 0;
  do value = static_cast<uint32_t>(mt()) & mask;
  while (value > max);
  return value;
}

std::vector<std::string> strings_at(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j.at(key).is_array()) fail("{}: each fold needs a \"{}\" list of case identifiers", where, key);
  return j.at(key).get<std::vector<std::string>>();
}

}  // namespace

Splits make_splits(std::vector<std::string> ids, int folds, uint32_t seed) {
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) fail("case identifier {} appears twice", *std::adjacent_find(ids.begin(), ids.end()));
  const size_t n = ids.size();
  if (folds < 2 || n < static_cast<size_t>(folds)) fail("{} case(s) cannot make {} folds", n, folds);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937 mt(seed);  // std::mt19937's seeding is init_genrand, as NumPy's RandomState(int)
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[random_interval(mt, static_cast<uint32_t>(i))]);
  Splits splits;
  size_t start = 0;
  for (int k = 0; k < folds; ++k) {
    const size_t size = n / folds + (static_cast<size_t>(k) < n % folds ? 1 : 0);
    std::vector<bool> held_out(n, false);
    for (size_t i = start; i < start + size; ++i) held_out[order[i]] = true;
    FoldSplit fold;
    for (size_t i = 0; i < n; ++i) (held_out[i] ? fold.val : fold.train).push_back(ids[i]);
    splits.push_back(fold);
    start += size;
  }
  return splits;
}

nlohmann::json to_json(const Splits& splits) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& f : splits) j.push_back({{"train", f.train}, {"val", f.val}});
  return j;
}

Splits read_splits(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  if (!j.is_array() || j.empty()) fail("{}: expected a list of folds [{{\"train\": [...], \"val\": [...]}}, ...]", path);
  Splits splits;
  try {
    for (size_t k = 0; k < j.size(); ++k) {
      const std::string where = fmt::format("{}: fold {}", path, k);
      if (!j[k].is_object()) fail("{}: expected an object with \"train\" and \"val\"", where);
      splits.push_back({strings_at(j[k], "train", where), strings_at(j[k], "val", where)});
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected content ({})", path, json_problem(e));
  }
  return splits;
}

void write_splits(const Splits& splits, const std::string& path) { write_json_file(to_json(splits), path); }

Dataset dataset_for_fold(const Dataset& dataset, const Splits& splits, int fold, const std::string& source) {
  std::map<std::string, CaseFiles> by_id;
  for (const auto& c : dataset.training) by_id[case_identifier(c)] = c;
  for (const auto& c : dataset.validation) by_id[case_identifier(c)] = c;
  Dataset out = dataset;
  out.training.clear();
  out.validation.clear();
  if (fold == kAllFolds) {
    for (const auto& [id, c] : by_id) out.training.push_back(c);
    out.validation = out.training;
    return out;
  }
  if (fold < 0 || fold >= static_cast<int>(splits.size())) fail("--fold {} is out of range: {} holds folds 0 to {}", fold, source, splits.size() - 1);
  const auto take = [&](const std::vector<std::string>& ids, std::vector<CaseFiles>& into) {
    for (const auto& id : ids) {
      const auto it = by_id.find(id);
      if (it == by_id.end()) fail("{}: fold {} names case {}, which the dataset does not hold", source, fold, id);
      into.push_back(it->second);
    }
  };
  take(splits[static_cast<size_t>(fold)].train, out.training);
  take(splits[static_cast<size_t>(fold)].val, out.validation);
  return out;
}

}  // namespace repux
