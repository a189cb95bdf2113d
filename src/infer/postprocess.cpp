#include "repux/infer/postprocess.h"

#include "repux/error.h"
#include "repux/eval/metrics.h"
#include "repux/shape_string.h"

#include <cmath>

namespace repux {
namespace {

// The neighbours visited before a voxel in raster order that touch it under `connectivity`.
std::vector<std::array<int64_t, 3>> earlier_neighbours(Connectivity connectivity) {
  const int most = connectivity == Connectivity::Faces ? 1 : connectivity == Connectivity::Edges ? 2 : 3;
  std::vector<std::array<int64_t, 3>> out;
  for (int64_t dz = -1; dz <= 0; ++dz)
    for (int64_t dy = -1; dy <= 1; ++dy)
      for (int64_t dx = -1; dx <= 1; ++dx) {
        const bool earlier = dz < 0 || (dz == 0 && dy < 0) || (dz == 0 && dy == 0 && dx < 0);
        const int64_t steps = std::abs(dz) + std::abs(dy) + std::abs(dx);
        if (earlier && steps <= most) out.push_back({dz, dy, dx});
      }
  return out;
}

// Union-find over provisional labels, with path halving.
struct Forest {
  std::vector<int32_t> parent{0};
  int32_t find(int32_t a) {
    while (parent[a] != a) a = parent[a] = parent[parent[a]];
    return a;
  }
  int32_t join(int32_t a, int32_t b) {
    a = find(a);
    b = find(b);
    if (a > b) std::swap(a, b);
    parent[b] = a;
    return a;
  }
  int32_t add() {
    parent.push_back(static_cast<int32_t>(parent.size()));
    return parent.back();
  }
};

// Two passes over a contiguous [D, H, W] mask: provisional labels joined where neighbours meet, then
// each component numbered by its first voxel.
void label_block(const bool* mask, int32_t* labels, const std::array<int64_t, 3>& n, Connectivity connectivity, int64_t* count) {
  const auto neighbours = earlier_neighbours(connectivity);
  Forest forest;
  for (int64_t z = 0; z < n[0]; ++z)
    for (int64_t y = 0; y < n[1]; ++y)
      for (int64_t x = 0; x < n[2]; ++x) {
        const int64_t i = (z * n[1] + y) * n[2] + x;
        if (!mask[i]) continue;
        int32_t label = 0;
        for (const auto& d : neighbours) {
          const int64_t zz = z + d[0], yy = y + d[1], xx = x + d[2];
          if (zz < 0 || yy < 0 || yy >= n[1] || xx < 0 || xx >= n[2]) continue;
          const int32_t other = labels[(zz * n[1] + yy) * n[2] + xx];
          if (other) label = label ? forest.join(label, other) : forest.find(other);
        }
        labels[i] = label ? label : forest.add();
      }
  std::vector<int32_t> number(forest.parent.size(), 0);
  int32_t next = 0;
  for (int64_t i = 0; i < n[0] * n[1] * n[2]; ++i) {
    if (!labels[i]) continue;
    int32_t& k = number[forest.find(labels[i])];
    if (!k) k = ++next;
    labels[i] = k;
  }
  if (count) *count = next;
}

}  // namespace

torch::Tensor label_components(const torch::Tensor& mask, Connectivity connectivity, int64_t* count) {
  if (mask.dim() != 3) fail("connected components need a [D, H, W] mask, got {} dimensions", mask.dim());
  auto labels = torch::zeros(mask.sizes(), torch::kInt32);
  const auto m = mask.to(torch::kCPU, torch::kBool);
  if (!m.any().item<bool>()) {
    if (count) *count = 0;
    return labels;
  }
  // Only the mask's bounding box is scanned: an organ is a small part of a CT.
  std::array<int64_t, 3> lo{}, hi{};
  for (int a = 0; a < 3; ++a) {
    std::vector<int64_t> others;
    for (int b = 0; b < 3; ++b) {
      if (b != a) others.push_back(b);
    }
    const auto present = torch::nonzero(m.any(others[1]).any(others[0]));
    lo[a] = present.min().item<int64_t>();
    hi[a] = present.max().item<int64_t>() + 1;
  }
  auto block = m.slice(0, lo[0], hi[0]).slice(1, lo[1], hi[1]).slice(2, lo[2], hi[2]).contiguous();
  auto block_labels = torch::zeros(block.sizes(), torch::kInt32);
  label_block(block.data_ptr<bool>(), block_labels.data_ptr<int32_t>(), {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]}, connectivity, count);
  labels.slice(0, lo[0], hi[0]).slice(1, lo[1], hi[1]).slice(2, lo[2], hi[2]).copy_(block_labels);
  return labels;
}

torch::Tensor apply_postprocessing(const torch::Tensor& labels, const Postprocessing& p) {
  auto out = labels.clone();
  for (const auto& [cls, rule] : p.rules) {
    const auto mask = labels == cls;
    int64_t count = 0;
    const auto components = label_components(mask, p.connectivity, &count).to(torch::kInt64);
    if (count == 0) continue;
    const auto sizes = torch::bincount(components.flatten(), {}, count + 1);
    auto keep = sizes >= std::max<int64_t>(rule.min_voxels, 1);
    if (rule.largest_only) {
      const int64_t largest = sizes.slice(0, 1).argmax().item<int64_t>() + 1;
      keep = keep & (torch::arange(count + 1) == largest);
    }
    keep[0] = true;  // outside the class
    out.masked_fill_(keep.index({components}).logical_not().to(out.device()), 0);
  }
  for (const auto& step : p.keep_largest) {
    auto mask = torch::zeros_like(out, torch::kBool);
    for (int64_t label : step.labels) mask |= out == label;
    int64_t count = 0;
    const auto components = label_components(mask, p.connectivity, &count).to(torch::kInt64);
    if (count == 0) continue;
    const auto sizes = torch::bincount(components.flatten(), {}, count + 1);
    auto keep = sizes == sizes.slice(0, 1).max();  // every component of the largest size, as nnU-Net keeps them
    keep[0] = true;
    out.masked_fill_(keep.index({components}).logical_not().to(out.device()), step.background);
  }
  return out;
}

PostprocessingSearch::PostprocessingSearch(int64_t classes, Connectivity connectivity) : connectivity_(connectivity) {
  for (int64_t c = 1; c < classes; ++c) sums_.push_back({c});
}

void PostprocessingSearch::add_case(const torch::Tensor& prediction, const torch::Tensor& truth) {
  if (prediction.sizes() != truth.sizes()) fail("a prediction of shape {} and its ground truth of shape {} differ", shape_string(prediction.sizes()), shape_string(truth.sizes()));
  for (auto& s : sums_) {
    const auto predicted = prediction == s.cls, expected = truth == s.cls;
    const double before = dice_score(predicted, expected);
    if (std::isnan(before)) continue;  // the class is in neither
    Postprocessing largest{connectivity_, {{s.cls, {true, 0}}}};
    const double after = dice_score(apply_postprocessing(prediction, largest) == s.cls, expected);
    s.cases += 1;
    s.dice_before += before;
    s.dice_after += after;
  }
}

std::vector<PostprocessingSearch::ClassResult> PostprocessingSearch::results() const {
  auto out = sums_;
  for (auto& r : out) {
    if (r.cases == 0) continue;
    r.dice_before /= static_cast<double>(r.cases);
    r.dice_after /= static_cast<double>(r.cases);
  }
  return out;
}

Postprocessing PostprocessingSearch::decision() const {
  Postprocessing p;
  p.connectivity = connectivity_;
  for (const auto& r : results()) {
    if (r.helps()) p.rules[r.cls] = {true, 0};
  }
  return p;
}

}  // namespace repux
