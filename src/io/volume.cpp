#include "repux/io/volume.h"

#include "repux/error.h"

#include <cmath>

namespace repux {

std::string label_name(const Volume& labels, int64_t label) {
  return label >= 0 && label < static_cast<int64_t>(labels.label_names.size()) ? labels.label_names[static_cast<size_t>(label)]
                                                                                  : fmt::format("label {}", label);
}

std::array<double, 3> affine_spacing(const torch::Tensor& affine) {
  auto a = affine.to(torch::kCPU, torch::kFloat64).contiguous();
  auto acc = a.accessor<double, 2>();
  std::array<double, 3> spacing{};
  for (int c = 0; c < 3; ++c) {
    spacing[c] = std::sqrt(acc[0][c] * acc[0][c] + acc[1][c] * acc[1][c] + acc[2][c] * acc[2][c]);
  }
  return spacing;
}

std::array<int64_t, 3> Volume::spatial_shape() const {
  if (data.dim() != 3 && data.dim() != 4) fail("volume has {} dimensions, expected 3 or 4", data.dim());
  const int64_t o = data.dim() - 3;
  return {data.size(o), data.size(o + 1), data.size(o + 2)};
}

std::array<double, 3> Volume::spacing() const { return affine_spacing(affine); }

bool is_integer(SampleType type) { return type != SampleType::Float32 && type != SampleType::Float64; }

}  // namespace repux
