#pragma once
// predict: replay the model's preprocessing, run the sliding window, map the probabilities back to
// the original grid, take the argmax and return a label volume with the input's exact geometry.
// The sliding window starts from the model's Plan (the settings it was validated with); the user
// may override each of them.
#include "repux/infer/sliding_window.h"
#include "repux/io/volume.h"
#include "repux/model/model_file.h"
#include "repux/nn/autocast.h"

#include <optional>

namespace repux {

// Unset fields keep the plan's inference defaults.
struct InferenceOverrides {
  std::optional<std::array<int64_t, 3>> window;
  std::optional<double> overlap;
  std::optional<Blending> blending;
  std::optional<std::vector<int64_t>> mirror_axes;
};

struct PredictOptions {
  InferenceOverrides overrides;
  int64_t batch_size = 1;  // windows per network call
  torch::Device compute_device = torch::kCPU;
  std::optional<torch::Device> stitch_device;  // none: the compute device
  bool keep_probabilities = false;
  Precision precision = Precision::Float32;  // bf16: autocast around the network
  std::function<void(size_t done, size_t total)> on_progress;
};

struct Prediction {
  Volume labels;         // integer labels, input geometry
  Volume probabilities;  // [K, D, H, W] float32, when asked for
};

// The sliding window predict uses for `plan`: the plan's inference settings with the overrides.
// Throws repux::Error naming a value out of range.
SlidingWindowOptions predict_window_options(const Plan& plan, const PredictOptions& options);

Prediction predict_volume(LoadedModel& model, const Volume& image, const PredictOptions& options);

}  // namespace repux
