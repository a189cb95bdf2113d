#include "repux/data/preprocess.h"

#include "repux/data/nnunet_preprocess.h"
#include "repux/error.h"
#include "repux/io/json_file.h"

namespace repux {

nlohmann::json to_json(const PreprocessRecipe& r) {
  nlohmann::json j = {{"name", r.name},           {"orient_ras", r.orient_ras},     {"intensity", enum_name(r.intensity)},
                      {"window_min", r.window_min}, {"window_max", r.window_max}, {"crop_foreground", r.crop_foreground}};
  j["spacing"] = r.spacing ? nlohmann::json(*r.spacing) : nlohmann::json();
  if (r.intensity == Intensity::CtNormalization) {
    j["ct_mean"] = r.ct_mean;
    j["ct_std"] = r.ct_std;
  }
  if (r.pipeline == Pipeline::NnUNet) {
    j["pipeline"] = enum_name(r.pipeline);
    j["resampling"] = to_json(r.resampling);
    j["probability_resampling"] = to_json(r.probability_resampling);
  }
  return j;
}

nlohmann::json to_json(const NnunetResampling& r) {
  return {{"order", r.order},
          {"order_z", r.order_z},
          {"force_separate_z", r.force_separate_z ? nlohmann::json(*r.force_separate_z) : nlohmann::json()},
          {"anisotropy_threshold", r.anisotropy_threshold}};
}

NnunetResampling nnunet_resampling_from_json(const nlohmann::json& j, const std::string& what) {
  check_known_keys(j, {"order", "order_z", "force_separate_z", "anisotropy_threshold"}, what);
  NnunetResampling r;
  r.order = field_or(j, "order", r.order);
  r.order_z = field_or(j, "order_z", r.order_z);
  if (j.contains("force_separate_z") && !j["force_separate_z"].is_null()) r.force_separate_z = field_or(j, "force_separate_z", false);
  r.anisotropy_threshold = field_or(j, "anisotropy_threshold", r.anisotropy_threshold);
  for (int order : {r.order, r.order_z}) {
    if (order != 0 && order != 1 && order != 3) fail("{}: interpolation order {}, expected 0, 1 or 3", what, order);
  }
  if (!(r.anisotropy_threshold >= 1)) fail("{}: anisotropy_threshold {} is below 1", what, r.anisotropy_threshold);
  return r;
}

PreprocessRecipe preprocess_recipe_from_json(const nlohmann::json& j) {
  PreprocessRecipe r;
  if (j.is_null()) return r;
  check_known_keys(j, {"name", "orient_ras", "intensity", "window_min", "window_max", "crop_foreground", "spacing", "ct_mean", "ct_std",
                       "pipeline", "resampling", "probability_resampling"},
                   "the preprocessing recipe");
  r.name = field_or(j, "name", r.name);
  r.orient_ras = field_or(j, "orient_ras", r.orient_ras);
  if (j.contains("intensity")) r.intensity = enum_from_name<Intensity>(field_or<std::string>(j, "intensity", ""));
  r.window_min = field_or(j, "window_min", r.window_min);
  r.window_max = field_or(j, "window_max", r.window_max);
  r.crop_foreground = field_or(j, "crop_foreground", r.crop_foreground);
  r.ct_mean = field_or(j, "ct_mean", r.ct_mean);
  r.ct_std = field_or(j, "ct_std", r.ct_std);
  if (j.contains("spacing") && !j["spacing"].is_null()) r.spacing = field_or(j, "spacing", std::array<double, 3>{});
  if (j.contains("pipeline")) r.pipeline = enum_from_name<Pipeline>(field_or<std::string>(j, "pipeline", ""));
  if (j.contains("resampling")) r.resampling = nnunet_resampling_from_json(j["resampling"], "the recipe's resampling");
  if (j.contains("probability_resampling")) {
    r.probability_resampling = nnunet_resampling_from_json(j["probability_resampling"], "the recipe's probability_resampling");
  }
  check_preprocess_recipe(r);
  return r;
}

void check_preprocess_recipe(const PreprocessRecipe& r) {
  const bool clips = r.intensity == Intensity::Ct || r.intensity == Intensity::CtNormalization;
  if (clips && !(r.window_max > r.window_min)) fail("CT window [{}, {}] is empty", r.window_min, r.window_max);
  if (!(r.ct_std > 0)) fail("ct_std {} is not positive", r.ct_std);
  if (r.pipeline == Pipeline::NnUNet && !r.spacing) fail("the nnunet preprocessing pipeline needs a spacing");
  if (r.pipeline == Pipeline::NnUNet && r.intensity == Intensity::Ct) fail("the nnunet preprocessing pipeline has no 'ct' window (ct_normalization is nnU-Net's)");
  if (r.spacing) {
    for (double s : *r.spacing) {
      if (!(s >= 0.01 && s <= 100)) fail("preprocessing spacing {} mm is out of range, expected 0.01 to 100 mm", s);
    }
  }
}

namespace {

// The presets' name table: each differs from the default recipe (RAS, CT window, crop) as shown.
struct Preset {
  const char* name;
  std::optional<std::array<double, 3>> spacing;
  Intensity intensity;
};
const Preset kPresets[] = {{"flare", std::array<double, 3>{1.0, 1.0, 1.2}, Intensity::Ct},
                           {"amos", std::array<double, 3>{1.5, 1.5, 2.0}, Intensity::Ct},
                           {"mri", std::nullopt, Intensity::ZScore},
                           {"none", std::nullopt, Intensity::Ct}};

}  // namespace

PreprocessRecipe preprocess_preset(const std::string& name) {
  std::string known;
  for (const auto& p : kPresets) {
    if (name == p.name) {
      PreprocessRecipe r;
      r.name = name == "none" ? "custom" : name;
      r.spacing = p.spacing;
      r.intensity = p.intensity;
      return r;
    }
    known += (known.empty() ? "" : ", ") + std::string(p.name);
  }
  fail("unknown preprocessing preset '{}', expected one of: {}", name, known);
}

namespace {

// Each channel on its own statistics (modalities differ in scale): z-score over the non-zero voxels
// (zero stays zero, the background of skull-stripped MRI), or min-max to [0, 1].
torch::Tensor per_channel_normalised(const torch::Tensor& x, Intensity intensity) {
  std::vector<torch::Tensor> channels;
  for (int64_t c = 0; c < x.size(0); ++c) {
    const auto xc = x[c];
    if (intensity == Intensity::Rescale) {
      const double lo = xc.min().item<double>(), hi = xc.max().item<double>();
      channels.push_back((xc - lo) / std::max(hi - lo, 1e-8));
      continue;
    }
    if (intensity == Intensity::ZScoreAll) {  // numpy's mean and std (ddof 0), as nnU-Net computes them
      const double mean = xc.mean().item<double>(), sd = xc.std(/*unbiased=*/false).item<double>();
      channels.push_back((xc - mean) / std::max(sd, 1e-8));
      continue;
    }
    const auto nonzero = xc != 0;
    const auto values = nonzero.any().item<bool>() ? xc.masked_select(nonzero) : xc.flatten();
    const double mean = values.mean().item<double>(), sd = values.std().item<double>();
    channels.push_back(torch::where(nonzero, (xc - mean) / std::max(sd, 1e-8), torch::zeros_like(xc)));
  }
  return torch::stack(channels);
}

}  // namespace

PreparedCase preprocess(const Volume& image, const PreprocessRecipe& r, const Volume* label) {
  if (r.pipeline == Pipeline::NnUNet) {
    if (label) fail("the nnunet preprocessing pipeline is for predicting with imported models; training on it is not supported");
    return preprocess_as_nnunet(image, r);
  }
  PreparedCase out;
  auto& t = out.trace;
  t.original = {image.affine.clone(), image.spatial_shape()};
  if (label && label->spatial_shape() != t.original.shape) {
    fail("label shape {}x{}x{} differs from the image shape {}x{}x{}", label->spatial_shape()[0], label->spatial_shape()[1],
         label->spatial_shape()[2], t.original.shape[0], t.original.shape[1], t.original.shape[2]);
  }
  Volume img = image, lab;
  if (label) lab = *label;
  if (r.orient_ras) {
    img = reorient_to_ras(image, &t.orientation);
    if (label) lab = reorient_to_ras(*label);
  }
  t.ras = {img.affine.clone(), img.spatial_shape()};
  if (r.spacing) {
    img = resample_to_spacing(img, *r.spacing, Interpolation::Linear);
    if (label) lab = resample_to_spacing(lab, *r.spacing, Interpolation::Nearest);
  }
  t.resampled = {img.affine.clone(), img.spatial_shape()};

  auto x = img.data.to(torch::kFloat32);
  if (x.dim() == 3) x = x.unsqueeze(0);
  if (r.intensity == Intensity::Ct) {
    x = ((x - r.window_min) / (r.window_max - r.window_min)).clamp(0.0, 1.0);
  } else if (r.intensity == Intensity::CtNormalization) {
    x = (x.clamp(r.window_min, r.window_max) - r.ct_mean) / std::max(r.ct_std, 1e-8);
  } else if (r.intensity == Intensity::ZScore || r.intensity == Intensity::Rescale || r.intensity == Intensity::ZScoreAll) {
    x = per_channel_normalised(x, r.intensity);
  } else if (r.intensity == Intensity::Rgb) {
    x = x / 255.0;
  }
  t.crop_start = {0, 0, 0};
  t.crop_size = t.resampled.shape;
  if (r.crop_foreground) {
    auto mask = r.intensity == Intensity::ZScore ? (x != 0).any(0) : (x > 0).any(0);
    if (mask.any().item<bool>()) bounding_box(mask, t.crop_start, t.crop_size);
  }
  out.image = crop_or_pad(x, t.crop_start, t.crop_size, 0.0);
  if (label) out.label = crop_or_pad(lab.data, t.crop_start, t.crop_size, 0.0).round().to(torch::kInt64);
  return out;
}

}  // namespace repux
