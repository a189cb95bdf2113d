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

// How the blended window predictions become labels. Slabs: rows are finished, restored to the
// original grid and reduced to labels as the windows pass (memory ~ K x window depth x H x W);
// whole: all K channels over the whole volume at each step (repux 0.1's path, kept as the reference
// for tests and the memory benchmark; ~65 GB for 104 classes on a 512x512x600 CT).
enum class Stitching { Slabs, Whole };
template <>
struct EnumNames<Stitching> {
  static constexpr const char* what = "stitching";
  static constexpr std::pair<Stitching, const char*> table[] = {{Stitching::Slabs, "slabs"}, {Stitching::Whole, "whole"}};
};

struct PredictOptions {
  InferenceOverrides overrides;  // over the plan's inference settings (model/inference_settings.h)
  int64_t batch_size = 1;  // windows per network call
  torch::Device compute_device = torch::kCPU;
  std::optional<torch::Device> stitch_device;  // none: the compute device
  bool keep_probabilities = false;  // costs K x D x H x W float32 on top (the probabilities themselves)
  Stitching stitching = Stitching::Slabs;
  bool postprocess = true;  // apply the plan's post-processing to the labels
  int64_t slab_bytes = int64_t{64} << 20;  // the largest slab restored at once (its temporaries are a few times this)
  // The slab path's accumulators (K x window x the image's two shorter axes) are float32 up to this size
  // and float16 shifted means above it, half the memory (sliding_window.h: Accumulators; softmax models
  // only). 104 classes on a 1.5 mm whole-body CT: 1.5 GB instead of 3.0.
  int64_t float32_accumulator_bytes = int64_t{1} << 30;
  bool measure_memory = false;  // each stage's peak resident memory into Prediction::times (resets the process's peak)
  Precision precision = Precision::Float32;  // bf16: autocast around the network
  std::function<void(size_t done, size_t total)> on_progress;
  // Only these classes (by name) are kept, the others become background (TotalSegmentator's
  // --roi_subset); the parts of a multi-part model that predict none of them are not run. Empty: all.
  std::vector<std::string> classes_subset;
};

// Where a prediction's time went, in seconds: preprocessing (reorientation, crop, resampling,
// normalisation), the network's forward passes, the rest of the sliding window (stitching the windows,
// restoring the probabilities to the image's grid, argmax), and post-processing with the labels' return
// to the image's geometry. On CUDA the split between network and stitching is approximate: kernels run
// asynchronously and are waited for wherever their results are first read.
struct PredictionTimes {
  double preprocess = 0, network = 0, stitching = 0, postprocess = 0;
  // Peak resident memory (bytes) of preprocessing and of the rest (windows, stitching, restoring,
  // post-processing), when PredictOptions::measure_memory asked for it; -1 otherwise.
  int64_t preprocess_peak = -1, windows_peak = -1;
  PredictionTimes& operator+=(const PredictionTimes& o);
};

struct Prediction {
  Volume labels;         // integer labels (data uint8, or int16 past 256 classes), input geometry
  Volume probabilities;  // [K, D, H, W] float32, when asked for
  std::array<int64_t, 3> window{};  // the windows the network ran on (fitted_window) and their number
  int64_t windows = 0;
  PredictionTimes times;
};

// The inference settings predict uses for `plan`: the plan's, overlaid with options.overrides.
// Throws repux::Error naming a value out of range (options' batch size included).
InferenceSettings predict_settings(const Plan& plan, const PredictOptions& options);

Prediction predict_volume(LoadedModel& model, const Volume& image, const PredictOptions& options);

// An ensemble (e.g. the folds of a cross-validation): each model's blended logits become
// probabilities, and the probabilities are averaged. The models must agree on input channels, classes
// and preprocessing; the sliding window is the first model's. The stitching accumulators hold every
// model's logits, so memory grows with the number of models.
Prediction predict_volume(std::vector<LoadedModel>& models, const Volume& image, const PredictOptions& options);
// The same, letting the image's voxels go (image.data is reset; its geometry and details stay) once they
// are preprocessed, so that the original image is not held beside the windows (0.6 GiB of float32 for a
// 512x512x600 CT). A multi-part model reads them for each part and keeps them.
Prediction predict_volume_releasing_voxels(std::vector<LoadedModel>& models, Volume& image, const PredictOptions& options);
// Throws repux::Error naming the first model that differs from the first one, and how.
void check_ensemble(const std::vector<LoadedModel>& models, const std::vector<std::string>& names);

}  // namespace repux
