#pragma once
// Effective receptive fields (ERF), measured as the large-kernel papers measure them (RepLKNet, Ding et
// al. 2022; 3D UX-Net; RepUX-Net): how strongly each input voxel moves the centre voxel of a feature
// map. As RepLKNet's code: s = the sum over channels of ReLU(feature at the centre voxel); the map is
// |ds/dx| summed over the input's channels and averaged over inputs. The ReLU matters: a stage output
// is LayerNorm'd over channels, and at initialisation (scale 1, shift 0) its plain channel sum is zero
// whatever the input, so its gradient would be rounding noise. RepLKNet keeps ReLU(ds/dx); the absolute
// value keeps negative influence too.
#include "repux/nn/segmenter.h"

#include <torch/torch.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace repux {

// A feature map of an input: [1, C, D, H, W] -> [1, F, d, h, w].
using FeatureFunction = std::function<torch::Tensor(const torch::Tensor&)>;

// The ERF of `feature` over `inputs` (each [1, C, D, H, W], all of one shape): [D, H, W] float64.
torch::Tensor effective_receptive_field(const FeatureFunction& feature, const std::vector<torch::Tensor>& inputs);

// The input voxel under the centre voxel of a feature map of `feature_size` computed from an input of
// `input_size` along one axis (stride input/feature): where the summary's cubes are centred.
int64_t erf_centre(int64_t input_size, int64_t feature_size);

inline constexpr std::array<double, 3> kErfRadiusShares{0.2, 0.5, 0.9};
inline constexpr std::array<double, 4> kErfAreaThresholds{0.2, 0.3, 0.5, 0.99};

struct ErfSummary {
  // Half-width in voxels of the smallest cube around the centre that holds 20, 50 and 90% of the
  // whole contribution (kErfRadiusShares).
  std::array<int64_t, 3> radius{};
  // RepLKNet's high-contribution area ratio, in 3-D: on log10(1 + contribution) scaled to a maximum of
  // 1, the volume of the smallest cube around the centre that holds 20, 30, 50, 99% of the total
  // (kErfAreaThresholds), as a fraction of the input's volume. Larger: contribution spread wider.
  std::array<double, 4> area_ratio{};
};

// The ERF of the encoder feature `index` (as Segmenter::encoder_stages lists them) over `inputs`, and
// the input voxel under that feature's centre voxel.
struct StageErf {
  torch::Tensor map;
  std::array<int64_t, 3> centre{};
};
StageErf encoder_stage_erf(Segmenter& net, size_t index, const std::vector<torch::Tensor>& inputs);

// Cubes are centred on `centre` and clipped to the map.
ErfSummary summarize_erf(const torch::Tensor& contribution, std::array<int64_t, 3> centre);

// Three orthogonal slices of the map through `centre`, log10(1 + contribution) scaled to [0, 1] and
// coloured (dark: none, bright: most), side by side with their axes named, a colour scale and `title`,
// written as PNG.
void write_erf_png(const torch::Tensor& contribution, std::array<int64_t, 3> centre, const std::string& path, const std::string& title = "");

}  // namespace repux
