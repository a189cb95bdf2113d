#pragma once
// Sliding-window inference: overlapping windows, batched, blended with a constant or Gaussian
// importance map (sigma = window / 8, as nnU-Net), optional mirroring test-time augmentation, and
// stitching on a chosen device (the CPU when the GPU is short of memory).
#include "repux/enum_names.h"

#include <torch/torch.h>

#include <array>
#include <functional>
#include <vector>

namespace repux {

// How overlapping windows are weighted where they meet.
enum class Blending { Constant, Gaussian };
template <>
struct EnumNames<Blending> {
  static constexpr const char* what = "blending";
  static constexpr std::pair<Blending, const char*> table[] = {{Blending::Constant, "constant"}, {Blending::Gaussian, "gaussian"}};
};

struct SlidingWindowOptions {
  std::array<int64_t, 3> window{96, 96, 96};
  double overlap = 0.5;
  int64_t batch_size = 1;
  Blending blending = Blending::Gaussian;
  std::vector<int64_t> mirror_axes;  // subset of {0, 1, 2}: every combination of flips is averaged
  torch::Device compute_device = torch::kCPU;
  torch::Device stitch_device = torch::kCPU;
  std::function<void(size_t done, size_t total)> on_progress;  // after each batch of windows
  int64_t slab_bytes = int64_t{256} << 20;  // the largest slab of logits handed on at once
  // Windows may grow beyond `window` (never beyond the volume), in steps of `window_multiple`, while
  // they hold at most this many voxels: see fitted_window. 0: every window is exactly `window`.
  int64_t max_window_voxels = 0;
  int64_t window_multiple = 16;  // the network's size divisor (it halves its input four times)
};

using WindowPredictor = std::function<torch::Tensor(const torch::Tensor&)>;  // [B,C,w,w,w] -> [B,K,w,w,w]

// Throws repux::Error naming a window size or overlap out of range.
void check_window_options(const SlidingWindowOptions& options);

// Receives finished rows of the blended logits in order along axis 0: rows [first_row, first_row + n)
// of the image as [K, n, H, W] on the stitch device.
using SlabSink = std::function<void(int64_t first_row, const torch::Tensor& logits)>;

// image: [1, C, D, H, W]. Windows are visited in order along axis 0 and the accumulators span one
// window's depth (a ring of rows): a row is handed to `sink` as soon as no later window touches it,
// so memory is K x window depth x H x W, not K x D x H x W. Each voxel sums its windows in the same
// order as a whole-volume accumulator would, so the values are identical to it. Volumes smaller
// than the window are padded (and the padding cropped away again).
void sliding_window_slabs(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                          const SlidingWindowOptions& options, const SlabSink& sink);

// The same, gathered: [1, K, D, H, W] blended logits on the stitch device.
torch::Tensor sliding_window_inference(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                                       const SlidingWindowOptions& options);

// The window used on an image of `size`: among `window` and larger windows up to the image's size
// (multiples of window_multiple, at most max_window_voxels), the one that sends the fewest voxels
// through the network, all windows counted (ties: fewer windows). Small overlapping windows recompute
// much: a 256x256x160 CT takes 75 windows of 96^3 at overlap 0.5, 6.3 times its own voxels; windows
// of 128x256x160 take 3 and 1.5 times. A window never exceeds the image where the image is larger:
// padding the model never saw changes its output. Growing costs accuracy with large-kernel networks
// (see InferenceSettings::window_growth), so it is off unless asked for.
std::array<int64_t, 3> fitted_window(const std::array<int64_t, 3>& size, const SlidingWindowOptions& options);

// How many windows of `window` cover an image of `size`.
int64_t window_count(const std::array<int64_t, 3>& size, const std::array<int64_t, 3>& window, double overlap);

// The voxel limit for windows allowed to grow to `growth` times `window`'s voxels.
int64_t grown_window_voxels(const std::array<int64_t, 3>& window, double growth);

// Start positions along one axis of size `size` for windows of `window` with `overlap`.
std::vector<int64_t> window_starts(int64_t size, int64_t window, double overlap);

torch::Tensor gaussian_importance_map(const std::array<int64_t, 3>& window, double sigma_scale = 1.0 / 8.0);

}  // namespace repux
