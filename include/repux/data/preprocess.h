#pragma once
// The preprocessing recipe (SPEC 3): orientation to RAS, resampling to a target spacing, intensity
// normalisation (CT window or per-volume z-score) and a crop to the foreground. The recipe is stored
// in model files so that predict replays it exactly, and every step is recorded so that
// probabilities can be mapped back onto the original grid.
#include "repux/io/geometry.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace repux {

struct PreprocessRecipe {
  std::string name = "custom";
  bool orient_ras = true;
  std::optional<std::array<double, 3>> spacing;  // none: keep the image's spacing
  std::string intensity = "ct";                  // "ct" (window, scaled to [0, 1]), "zscore" or "none"
  double window_min = -125.0, window_max = 275.0;
  bool crop_foreground = true;  // to voxels > 0 after the intensity step (SPEC 3)
};

nlohmann::json to_json(const PreprocessRecipe& recipe);
PreprocessRecipe preprocess_recipe_from_json(const nlohmann::json& j);
// "flare" (1.0, 1.0, 1.2 mm, CT window), "amos" (1.5, 1.5, 2.0 mm, CT window), "mri" (z-score).
PreprocessRecipe preprocess_preset(const std::string& name);

// Everything needed to undo the geometry of preprocessing.
struct PreprocessTrace {
  torch::Tensor original_affine;
  std::array<int64_t, 3> original_shape{};
  Orientation orientation;
  torch::Tensor ras_affine;
  std::array<int64_t, 3> ras_shape{};
  torch::Tensor resampled_affine;
  std::array<int64_t, 3> resampled_shape{};
  std::array<int64_t, 3> crop_start{}, crop_size{};
};

struct PreparedCase {
  torch::Tensor image;  // [C, D, H, W] float32
  torch::Tensor label;  // [D, H, W] int64, when a label was given
  PreprocessTrace trace;
};

PreparedCase preprocess(const Volume& image, const PreprocessRecipe& recipe, const Volume* label = nullptr);

// Maps class probabilities [K, d, h, w] from the preprocessed (cropped) grid back onto the original
// voxel grid [K, D, H, W]; outside the crop the background has probability 1.
torch::Tensor restore_probabilities(const torch::Tensor& probabilities, const PreprocessTrace& trace);

}  // namespace repux
