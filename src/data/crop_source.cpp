#include "repux/data/crop_source.h"

#include "repux/error.h"
#include "repux/io/geometry.h"

namespace repux {

ForegroundSample sample_foreground(const torch::Tensor& label, int64_t classes, int64_t per_class) {
  ForegroundSample s;
  const auto flat = label.flatten().to(torch::kInt64);
  const auto counts = torch::bincount(flat, {}, classes);
  if (counts.size(0) > classes) fail("label value {} is not below the number of classes {}", counts.size(0) - 1, classes);
  s.class_voxels.assign(static_cast<size_t>(classes), 0);
  s.sample_counts.assign(static_cast<size_t>(classes), 0);
  std::vector<torch::Tensor> parts;
  for (int64_t c = 1; c < classes; ++c) {
    const int64_t n = counts[c].item<int64_t>();
    s.class_voxels[c] = n;
    if (n == 0) continue;
    auto positions = torch::nonzero(label == c);  // [n, 3] in raster order
    if (n > per_class) {
      // Evenly spaced through the class's voxels: index floor(i * n / per_class), i = 0..per_class-1.
      auto rows = torch::div(torch::arange(per_class, torch::kInt64) * n, per_class, "floor");
      positions = positions.index_select(0, rows);
    }
    s.sample_counts[c] = positions.size(0);
    parts.push_back(positions.to(torch::kInt32));
  }
  s.positions = parts.empty() ? torch::zeros({0, 3}, torch::kInt32) : torch::cat(parts).contiguous();
  return s;
}

namespace {

class MemoryCropSource : public CropSource {
 public:
  MemoryCropSource(std::vector<PreparedCase> cases, int64_t classes) : cases_(std::move(cases)) {
    for (const auto& c : cases_) {
      if (!c.label.defined()) fail("a training case has no label");
      samples_.push_back(sample_foreground(c.label, classes));
    }
  }
  size_t size() const override { return cases_.size(); }
  std::array<int64_t, 3> shape(size_t i) const override {
    const auto& l = cases_.at(i).label;
    return {l.size(0), l.size(1), l.size(2)};
  }
  const ForegroundSample& foreground(size_t i) const override { return samples_.at(i); }
  Crop crop(size_t i, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size) const override {
    const auto& c = cases_.at(i);
    return {crop_or_pad(c.image, start, size, 0.0), crop_or_pad(c.label, start, size, 0.0)};
  }

 private:
  std::vector<PreparedCase> cases_;
  std::vector<ForegroundSample> samples_;
};

}  // namespace

std::shared_ptr<const CropSource> memory_crop_source(std::vector<PreparedCase> cases, int64_t classes) {
  return std::make_shared<MemoryCropSource>(std::move(cases), classes);
}

}  // namespace repux
