#pragma once
// The preprocessing recipe: orientation to RAS, resampling to a target spacing, intensity
// normalisation (CT window scaled to [0, 1], or per-volume z-score over the non-zero voxels) and a
// crop to the foreground (voxels > 0 after the intensity step, as the official pipeline's
// CropForeground). The recipe is part of a model's Plan so that predict replays it exactly, and every
// step is recorded so that probabilities can be mapped back onto the original grid.
#include "repux/data/nnunet_resampling.h"
#include "repux/enum_names.h"
#include "repux/io/geometry.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace repux {

// Ct: clipped to [window_min, window_max] and scaled to [0, 1]; ZScore: per image and channel, over the
// non-zero voxels; Rescale: per image and channel, min to 0 and max to 1 (nnU-Net's rescale_to_0_1);
// Rgb: divided by 255 (rgb_to_0_1); None: as read (noNorm). nnU-Net's own two, for imported models:
// CtNormalization clips to [window_min, window_max] (the training set's foreground percentiles 0.5 and
// 99.5) and subtracts ct_mean, divides by ct_std (its foreground mean and standard deviation);
// ZScoreAll: per image and channel over every voxel (ZScoreNormalization without use_mask_for_norm).
enum class Intensity { Ct, ZScore, None, Rescale, Rgb, CtNormalization, ZScoreAll };
template <>
struct EnumNames<Intensity> {
  static constexpr const char* what = "intensity normalisation";
  static constexpr std::pair<Intensity, const char*> table[] = {{Intensity::Ct, "ct"},
                                                                     {Intensity::ZScore, "zscore"},
                                                                     {Intensity::None, "none"},
                                                                     {Intensity::Rescale, "rescale_to_0_1"},
                                                                     {Intensity::Rgb, "rgb_to_0_1"},
                                                                     {Intensity::CtNormalization, "ct_normalization"},
                                                                     {Intensity::ZScoreAll, "zscore_all"}};
};

// Repux: reorient, resample (world-exact, linear), normalise, crop to the foreground. NnUNet: nnU-Net's
// own order and resampling for imported models (repux/data/nnunet_preprocess.h).
enum class Pipeline { Repux, NnUNet };
template <>
struct EnumNames<Pipeline> {
  static constexpr const char* what = "preprocessing pipeline";
  static constexpr std::pair<Pipeline, const char*> table[] = {{Pipeline::Repux, "repux"}, {Pipeline::NnUNet, "nnunet"}};
};

struct PreprocessRecipe {
  std::string name = "custom";
  bool orient_ras = true;
  std::optional<std::array<double, 3>> spacing;  // none: keep the image's spacing
  Intensity intensity = Intensity::Ct;
  double window_min = -125.0, window_max = 275.0;
  double ct_mean = 0.0, ct_std = 1.0;  // CtNormalization only
  bool crop_foreground = true;  // Pipeline::Repux only
  Pipeline pipeline = Pipeline::Repux;
  // Pipeline::NnUNet only: the images' resampling and the way back of the logits (resampling_fn_data and
  // resampling_fn_probabilities of nnU-Net's plans).
  NnunetResampling resampling, probability_resampling = linear_nnunet_resampling();
};

nlohmann::json to_json(const PreprocessRecipe& recipe);
nlohmann::json to_json(const NnunetResampling& resampling);
// `what` names the field in errors.
NnunetResampling nnunet_resampling_from_json(const nlohmann::json& j, const std::string& what);
// Validates every field; an error names the bad one.
PreprocessRecipe preprocess_recipe_from_json(const nlohmann::json& j);
void check_preprocess_recipe(const PreprocessRecipe& recipe);
// "flare" (1.0, 1.0, 1.2 mm, CT window), "amos" (1.5, 1.5, 2.0 mm, CT window), "mri" (z-score),
// "none" (the image's spacing, CT window).
PreprocessRecipe preprocess_preset(const std::string& name);

// Everything needed to undo the geometry of preprocessing.
struct PreprocessTrace {
  Grid original;
  Orientation orientation;
  Grid ras;        // after reorientation
  Grid resampled;  // after resampling, before the crop
  std::array<int64_t, 3> crop_start{}, crop_size{};
};

struct PreparedCase {
  torch::Tensor image;  // [C, D, H, W] float32
  torch::Tensor label;  // [D, H, W] int64, when a label was given
  PreprocessTrace trace;
};

PreparedCase preprocess(const Volume& image, const PreprocessRecipe& recipe, const Volume* label = nullptr);

// The inverse, for predictions: repux/data/restore.h.

}  // namespace repux
