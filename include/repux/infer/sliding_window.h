#pragma once
// Sliding-window inference: overlapping windows, batched, blended with a constant or Gaussian
// importance map (sigma = window / 8, as nnU-Net), optional mirroring test-time augmentation, and
// stitching on a chosen device (the CPU when the GPU is short of memory).
#include "repux/model/inference_settings.h"

#include <torch/torch.h>

#include <array>
#include <functional>
#include <vector>

namespace repux {

// How the sliding window's accumulators store the blended logits (infer/logit_ring.h): float32 sums,
// or float16 running means of each window's logits less their largest class (half the memory; the rows
// handed on are the blend less a per-voxel constant, which softmax and argmax ignore: not for sigmoid
// outputs).
enum class Accumulators { Float32, Float16ShiftedMean };
template <>
struct EnumNames<Accumulators> {
  static constexpr const char* what = "accumulators";
  static constexpr std::pair<Accumulators, const char*> table[] = {{Accumulators::Float32, "float32"},
                                                                       {Accumulators::Float16ShiftedMean, "float16_shifted_mean"}};
};

// The run-time side of the sliding window; what it computes (window, overlap, blending, mirroring,
// window growth) is the InferenceSettings it is given, whose `window` must be set.
struct SlidingWindowOptions {
  int64_t batch_size = 1;
  torch::Device compute_device = torch::kCPU;
  torch::Device stitch_device = torch::kCPU;
  std::function<void(size_t done, size_t total)> on_progress;  // after each batch of windows
  int64_t slab_bytes = int64_t{256} << 20;  // the largest slab of logits handed on at once
  // The axis along which rows are finished and handed on (sliding_window_slabs): the accumulators span
  // the window along it and the whole image across the other two, so the image's longest axis needs the
  // least of them (longest_axis).
  int64_t row_axis = 0;
  Accumulators accumulators = Accumulators::Float32;
};

// The network's size divisor (it halves its input four times): grown windows are multiples of it.
inline constexpr int64_t kWindowMultiple = 16;

using WindowPredictor = std::function<torch::Tensor(const torch::Tensor&)>;  // [B,C,w,w,w] -> [B,K,w,w,w]

// Throws repux::Error naming a window size, overlap, growth, axis or batch size out of range.
void check_window_options(const InferenceSettings& settings, const SlidingWindowOptions& run = {});

// Receives finished rows of the blended logits in order along the row axis r: rows [first_row,
// first_row + n) of the image as [K, n, A, B] on the stitch device, A and B the other two axes in their
// order (for r = 0: [K, n, H, W]).
using SlabSink = std::function<void(int64_t first_row, const torch::Tensor& logits)>;

// image: [1, C, D, H, W]. Windows are visited in order along the row axis and the accumulators span one
// window's depth along it (a ring of rows): a row is handed to `sink` as soon as no later window touches
// it, so memory is K x window depth x the other two axes, not K x D x H x W. With float32 accumulators
// each voxel sums its windows in the same order as a whole-volume accumulator visiting windows along
// that axis first would, so the values are identical to it. Volumes smaller than the window are padded
// (and the padding cropped away again).
void sliding_window_slabs(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                          const InferenceSettings& settings, const SlidingWindowOptions& run, const SlabSink& sink);

// nnU-Net's sliding window (predict_sliding_window_return_logits), for imported models: the whole
// volume at once, windows of exactly the settings' window visited in nnU-Net's order (its first
// network axis outermost; network axis n is volume axis network_axes[n]), summed in the settings'
// accumulation. Returns [1, K, D, H, W] float32 logits on the stitch device.
torch::Tensor nnunet_sliding_window(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                                    const InferenceSettings& settings, const std::array<int64_t, 3>& network_axes,
                                    const SlidingWindowOptions& run);

// The same, gathered: [1, K, D, H, W] blended logits on the stitch device.
torch::Tensor sliding_window_inference(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                                       const InferenceSettings& settings, const SlidingWindowOptions& run = {});

// The axis of `size` with the most voxels (the first of equals): the row axis that needs the fewest
// accumulators.
int64_t longest_axis(const std::array<int64_t, 3>& size);

// A tensor's last three (spatial) dimensions in the order `axes`: spatial dimension p of the result is
// the tensor's spatial dimension axes[p] (a view). from_axis_order undoes it. For the rows of a row axis
// (row_frame) and for a network that takes its axes in another order (Plan::network_axes).
torch::Tensor in_axis_order(const torch::Tensor& t, const std::array<int64_t, 3>& axes);
torch::Tensor from_axis_order(const torch::Tensor& t, const std::array<int64_t, 3>& axes);

// The image's axes in the order the rows of a row axis are handed on: the row axis, then the other two
// in their order ({1, 0, 2} for row axis 1). Throws for an axis other than 0, 1 or 2.
std::array<int64_t, 3> row_frame(int64_t row_axis);

// The window used on an image of `size`: among `window` and larger windows up to the image's size
// (multiples of kWindowMultiple, at most window_growth times the window's voxels), the one that sends the fewest voxels
// through the network, all windows counted (ties: fewer windows). Small overlapping windows recompute
// much: a 256x256x160 CT takes 75 windows of 96^3 at overlap 0.5, 6.3 times its own voxels; windows
// of 128x256x160 take 3 and 1.5 times. A window never exceeds the image where the image is larger:
// padding the model never saw changes its output. Growing costs accuracy with large-kernel networks
// (see InferenceSettings::window_growth), so it is off unless asked for.
std::array<int64_t, 3> fitted_window(const std::array<int64_t, 3>& size, const InferenceSettings& settings);

// How many windows of `window` cover an image of `size`.
int64_t window_count(const std::array<int64_t, 3>& size, const std::array<int64_t, 3>& window, double overlap);

// The settings' window; an error when none is set.
std::array<int64_t, 3> window_of(const InferenceSettings& settings);

// The voxel limit for windows allowed to grow to `growth` times `window`'s voxels.
int64_t grown_window_voxels(const std::array<int64_t, 3>& window, double growth);

// Start positions along one axis of size `size` for windows of `window` with `overlap`, as nnU-Net's
// compute_steps_for_sliding_window places them: ceil((size - window) / (window * (1 - overlap))) + 1
// windows spread evenly from 0 to size - window, positions rounded half to even.
std::vector<int64_t> window_starts(int64_t size, int64_t window, double overlap);

torch::Tensor gaussian_importance_map(const std::array<int64_t, 3>& window, double sigma_scale = 1.0 / 8.0);
// Blending::NnunetGaussian's weights (float32 holding nnU-Net's float16 values).
torch::Tensor nnunet_gaussian_importance_map(const std::array<int64_t, 3>& window);
// The weights of a blending.
torch::Tensor blending_weights(const std::array<int64_t, 3>& window, Blending blending);

}  // namespace repux
