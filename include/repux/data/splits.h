#pragma once
// Cross-validation folds in nnU-Net's form: splits_final.json, a list of {"train": [ids], "val": [ids]},
// one per fold. When a dataset or store holds none, the folds are made exactly as nnU-Net makes them
// (scikit-learn's KFold(n_splits=5, shuffle=True, random_state=12345) over the sorted case
// identifiers), so a repux fold K holds out the same cases as nnU-Net's fold K and both can be compared
// case by case.
#include "repux/data/dataset.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace repux {

struct FoldSplit {
  std::vector<std::string> train, val;  // case identifiers (repux/data/dataset.h: case_identifier)
};
using Splits = std::vector<FoldSplit>;

inline const char* splits_file_name() { return "splits_final.json"; }
constexpr int kAllFolds = -1;  // --fold all: train on every case (validation then sees training cases)

// KFold(n_splits=folds, shuffle=True, random_state=seed).split over the identifiers sorted: NumPy's
// legacy RandomState shuffle (MT19937 seeded as init_genrand, a Fisher-Yates pass from the end
// drawing each index by masked rejection), then contiguous test blocks, the first n % folds one
// larger; each fold's lists in sorted order. Fewer identifiers than folds, or a repeated one, is an error.
Splits make_splits(std::vector<std::string> identifiers, int folds = 5, uint32_t seed = 12345);

nlohmann::json to_json(const Splits& splits);
// Reads splits_final.json strictly: every fold a {"train", "val"} of identifier lists.
Splits read_splits(const std::string& path);
void write_splits(const Splits& splits, const std::string& path);

// The dataset with fold `fold` of `splits` (or kAllFolds) as its training and validation lists; an
// identifier of the splits not in the dataset, or `fold` out of range, is an error naming `source`.
Dataset dataset_for_fold(const Dataset& dataset, const Splits& splits, int fold, const std::string& source);

}  // namespace repux
