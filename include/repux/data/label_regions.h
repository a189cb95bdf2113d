#pragma once
// nnU-Net's region-based labels. A dataset.json that gives some label as a list of two or more values
// ({"background": 0, "whole tumour": [1, 2, 3], "tumour core": [2, 3], "enhancing": 3}) makes every
// foreground label a region: a set of label values, possibly overlapping the others. The network has
// one output per region, trained with sigmoid (binary cross-entropy + Dice per region), and a
// prediction is painted back into label values: each region whose probability exceeds 0.5 paints its
// value of "regions_class_order", in that order, so a later (inner) region overwrites an earlier one.
// Files on disk (labels, predictions) always hold plain label values.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace repux {

// A region: its name and the label values it is made of; e.g. BraTS's tumour core {2, 3}.
struct LabelRegion {
  std::string name;
  std::vector<int64_t> values;
  int64_t paints = 0;  // the label value a predicted region is written as (its regions_class_order entry)
};

struct LabelRegions {
  std::vector<LabelRegion> regions;  // in dataset.json's order: the network's output channels

  bool empty() const { return regions.empty(); }
  int64_t size() const { return static_cast<int64_t>(regions.size()); }
  // How many label values the files hold: 0 .. the highest value any region has or paints.
  int64_t label_classes() const;
  // The region names, background first (as class names are kept for plain labels).
  std::vector<std::string> names_with_background() const;
  // A name per label value (0 .. label_classes() - 1): "background", the region painting the value,
  // else "label<k>".
  std::vector<std::string> label_value_names() const;
  bool operator==(const LabelRegions& other) const;
};

// Every value positive, each region with at least one value, the paint values positive; `source`
// names the file or field in the error.
void check_label_regions(const LabelRegions& regions, const std::string& source);

// [{"name": ..., "values": [...], "paints": k}, ...], as plans and run folders write them.
nlohmann::json to_json(const LabelRegions& regions);
LabelRegions label_regions_from_json(const nlohmann::json& j, const std::string& source);

// label [...] (integer values) -> [R, ...] bool, inserted at `dim`: region r is where the label is one
// of its values.
torch::Tensor region_masks(const torch::Tensor& label, const LabelRegions& regions, int64_t dim = 0);
// masks [R, ...] (bool) -> label values [...] (int64): zero, then each region's value where it is set,
// in order.
torch::Tensor paint_regions(const torch::Tensor& masks, const LabelRegions& regions);

}  // namespace repux
