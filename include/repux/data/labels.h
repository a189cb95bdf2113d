#pragma once
// Label maps: class names, checks of label values, and merging an atlas's many labels into a few
// classes (e.g. AAL's 116 regions into lobes).
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace repux {

// "background", "class1", ...: the names of classes nobody named.
std::vector<std::string> default_class_names(int64_t classes);

// old label -> new label. Labels absent from the map become `unlisted` (background by default).
struct LabelMap {
  std::map<int64_t, int64_t> mapping;
  int64_t unlisted = 0;
  bool keep_unlisted = false;  // true: labels absent from the map keep their value
};

// Reads a text file of "old new" integer pairs, one per line; '#' starts a comment. An old label
// listed twice, a non-integer or a negative value is an error naming the file and line.
LabelMap read_label_map(const std::string& path);

// Why `labels` is not a label map of `classes` classes (whole numbers in 0..classes-1; classes <= 0:
// any whole number >= 0), or "" when it is.
std::string label_value_problem(const torch::Tensor& labels, int64_t classes);

// Applies the map to a label tensor of whole numbers (any dtype); returns int64. A voxel that is not a
// whole number is an error (a label map applied to an intensity image by mistake).
torch::Tensor remap_labels(const torch::Tensor& labels, const LabelMap& map);

}  // namespace repux
