#pragma once
// Dataset descriptions: the official JSON lists ({"training": [{"image", "label"}], "validation": ...},
// paths relative to the JSON's folder or a given root), MSD-style dataset.json, and the nnU-Net raw
// layout (imagesTr/labelsTr/imagesTs with the _0000 channel suffix). k-fold splits when no
// validation list is given.
#include "repux/io/volume.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace repux {

struct CaseFiles {
  std::string image, label;
  // Further input channels in their own files (nnU-Net's _0001, _0002, ...; a JSON "image" list),
  // stacked after `image`'s channel(s). A 4-D image file carries its channels itself.
  std::vector<std::string> more_channels;
};

struct Dataset {
  std::vector<CaseFiles> training, validation, test;
  std::vector<std::string> class_names;  // from "labels" when present
};

// The case's image with every channel: [C, D, H, W] when it has several (files of one grid), else as read.
Volume read_case_image(const CaseFiles& files);

// `path`: a dataset JSON file, or a folder holding dataset.json or imagesTr/labelsTr.
Dataset load_dataset(const std::string& path, const std::string& root = "");
// Moves fold `fold` of `folds` (shuffled with `seed`) from training to validation when the
// dataset has no validation list.
void split_folds(Dataset& dataset, int folds, int fold, uint64_t seed);

struct DatasetProblem {
  std::string file, problem;
};
// Every case: files readable, shapes and affines of image and label agree, labels within
// 0..classes-1, image not constant. Returns all problems found.
std::vector<DatasetProblem> check_dataset(const std::vector<CaseFiles>& cases, int64_t classes);
// The same over the training and validation cases of a dataset.
std::vector<DatasetProblem> check_dataset(const Dataset& dataset, int64_t classes);

}  // namespace repux
