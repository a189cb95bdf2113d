#pragma once
// A model's Plan: everything that defines its data contract, shared by the trainer, validation and
// predict (as nnU-Net's plans are by its trainer and predictor): the network, the preprocessing
// recipe, the patch it was trained on, its class names and its inference defaults. Model files carry
// it; training validates with its inference settings and predict starts from the same ones, so a
// model is selected under the inference mode it is deployed with unless the user overrides it.
// One to_json / plan_from_json pair writes and reads it; every field is checked once, and an error
// names the field.
#include "repux/data/preprocess.h"
#include "repux/infer/postprocess.h"
#include "repux/infer/sliding_window.h"
#include "repux/nn/segmenter.h"

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace repux {

struct InferenceSettings {
  std::optional<std::array<int64_t, 3>> window;  // none: the plan's patch
  // 0.25, not nnU-Net's 0.5: 2.3x fewer windows on a 256x256x160 CT for -0.0012 mean Dice on held-out
  // cases of the demo's model (README, "Faster prediction"); models saved with 0.5 keep it.
  double overlap = 0.25;
  Blending blending = Blending::Gaussian;
  std::vector<int64_t> mirror_axes;  // test-time mirroring over these axes (0, 1, 2); empty: none
  // Windows may grow (up to the volume) to hold this many times the window's voxels (fitted_window);
  // 1: windows of exactly `window`. Large-kernel networks are not translation-equivariant at the
  // scale of their patch (a 21^3 kernel spans a 32^3 patch's deeper feature maps, padding included),
  // so windows larger than the training patch cost accuracy: -0.08 mean Dice at 1.5x per axis.
  double window_growth = 1;
};

struct Plan {
  NetworkConfig network;
  PreprocessRecipe preprocessing;
  std::array<int64_t, 3> patch{96, 96, 96};  // training patch (multiples of 16: the network halves it 4 times)
  std::vector<std::string> class_names;      // one per output class, background first; empty: class1, class2, ...
  InferenceSettings inference;
  Postprocessing postprocessing;  // applied to predict's labels; decided by `repux postprocess --determine`
};

// Fills the defaults (network per architecture, class names, the window from the patch) and checks
// every field; throws repux::Error naming the first bad one ("plan field 'inference.overlap': ...").
Plan resolved(const Plan& plan);

nlohmann::json to_json(const Plan& plan);
Plan plan_from_json(const nlohmann::json& j);

// The sliding window that validation and predict both start from: the plan's window, overlap,
// blending and mirroring, on the CPU.
SlidingWindowOptions sliding_window_options(const Plan& plan);

}  // namespace repux
