#include "repux/model/planner.h"

#include "repux/error.h"
#include "repux/io/json_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace repux {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> along(const DatasetFingerprint& f, int axis, double (*value)(const CaseFingerprint&, int)) {
  std::vector<double> out;
  for (const auto& c : f.cases) out.push_back(value(c, axis));
  return out;
}
double spacing_of(const CaseFingerprint& c, int a) { return c.spacing[a]; }
double extent_of(const CaseFingerprint& c, int a) { return c.spacing[a] * static_cast<double>(c.shape[a]); }

// Rule 1.
std::array<double, 3> target_spacing(const DatasetFingerprint& f, double anisotropy, std::string& reason) {
  std::array<double, 3> t{}, size{};
  for (int a = 0; a < 3; ++a) {
    t[a] = median(along(f, a, spacing_of));
    size[a] = median(along(f, a, extent_of)) / t[a];
  }
  reason = fmt::format("spacing: median {:.3g} mm", fmt::join(t, " x "));
  const int worst = static_cast<int>(std::max_element(t.begin(), t.end()) - t.begin());
  const double finest = *std::min_element(t.begin(), t.end());
  double smallest_other = 1e300, coarsest_other = 0;
  for (int a = 0; a < 3; ++a) {
    if (a == worst) continue;
    smallest_other = std::min(smallest_other, size[a]);
    coarsest_other = std::max(coarsest_other, t[a]);
  }
  if (t[worst] > anisotropy * finest && size[worst] * anisotropy < smallest_other) {
    std::vector<double> spacings = along(f, worst, spacing_of);
    std::sort(spacings.begin(), spacings.end());
    t[worst] = std::max(percentile_of_sorted(spacings, 10), coarsest_other);
    reason += fmt::format("; anisotropic: axis {} takes the 10th percentile of its spacings, {:.3g} mm", worst, t[worst]);
  }
  return t;
}

int64_t round_up16(double v) { return std::max<int64_t>(16, static_cast<int64_t>(std::ceil(v / 16.0)) * 16); }

// Rule 2.
std::array<int64_t, 3> patch_for(const std::array<double, 3>& median_shape, int64_t crop_voxels) {
  std::array<int64_t, 3> p{};
  for (int a = 0; a < 3; ++a) p[a] = round_up16(median_shape[a]);
  while (p[0] * p[1] * p[2] > crop_voxels) {
    int axis = -1;
    for (int a = 0; a < 3; ++a) {
      if (p[a] > 16 && (axis < 0 || p[a] / median_shape[a] > p[axis] / median_shape[axis] ||
                        (p[a] / median_shape[a] == p[axis] / median_shape[axis] && p[a] > p[axis]))) {
        axis = a;
      }
    }
    if (axis < 0) break;
    p[axis] -= 16;
  }
  return p;
}

bool has_context(const std::array<int64_t, 3>& patch, const std::array<double, 3>& spacing, const std::array<double, 3>& extent, double needed) {
  for (int a = 0; a < 3; ++a) {
    if (static_cast<double>(patch[a]) * spacing[a] < needed * extent[a] - 1e-9) return false;
  }
  return true;
}

bool is_ct(const DatasetFingerprint& f) {
  for (const auto& c : f.cases) {
    if (c.image_min < -500) return true;
  }
  return false;
}

// Rule 5's choice: the modality the user gave, else the dataset's channel names (nnU-Net's schemes; one
// for all channels, since a recipe normalises every channel alike), else CT when the images hold air.
Intensity planned_intensity(const DatasetFingerprint& f, const PlannerSettings& s) {
  if (s.modality == Modality::Ct) return Intensity::Ct;
  if (s.modality == Modality::Mri) return Intensity::ZScore;
  if (s.channel_names.empty()) return is_ct(f) ? Intensity::Ct : Intensity::ZScore;
  const Intensity first = intensity_for_channel(s.channel_names.front());
  for (const auto& name : s.channel_names) {
    if (intensity_for_channel(name) != first) {
      fail("channel_names {} ask for different normalisations ({} and {}); repux normalises all channels alike: give --modality, or "
           "name the channels for one scheme",
           fmt::join(s.channel_names, ", "), enum_name(first), enum_name(intensity_for_channel(name)));
    }
  }
  return first;
}

}  // namespace

PlannedTraining plan_from_fingerprint(const DatasetFingerprint& f, const PlannerSettings& s, const std::vector<std::string>& class_names) {
  if (f.cases.empty()) fail("an empty fingerprint cannot be planned from");
  if (s.min_batch < 1 || s.max_batch < s.min_batch) fail("planner batch range {}..{} is empty", s.min_batch, s.max_batch);
  if (s.step_voxels < s.min_batch * 16 * 16 * 16) fail("step voxel budget {} is below {} crops of 16^3", s.step_voxels, s.min_batch);
  if (!(s.min_context >= 0 && s.min_context <= 1)) fail("min_context {} is out of range, expected 0 to 1", s.min_context);
  if (!(s.max_coarsening >= 1)) fail("max_coarsening {} is out of range, expected at least 1", s.max_coarsening);
  PlannedTraining out;
  Plan& plan = out.plan;
  std::string reason;
  out.full_resolution_spacing = target_spacing(f, s.anisotropy, reason);
  out.reasons.push_back(reason);
  for (int a = 0; a < 3; ++a) out.median_extent_mm[a] = median(along(f, a, extent_of));

  // Rules 2 and 3: the patch at the spacing, the spacing coarsened until the patch has the context.
  const int64_t crop_voxels = s.step_voxels / s.min_batch;
  std::array<double, 3> spacing = out.full_resolution_spacing;
  std::array<int64_t, 3> patch{};
  double factor = 1.0;
  while (true) {
    for (int a = 0; a < 3; ++a) spacing[a] = out.full_resolution_spacing[a] * factor;
    std::array<double, 3> median_shape{};
    for (int a = 0; a < 3; ++a) median_shape[a] = out.median_extent_mm[a] / spacing[a];
    patch = patch_for(median_shape, crop_voxels);
    if (has_context(patch, spacing, out.median_extent_mm, s.min_context) || factor * 1.05 > s.max_coarsening + 1e-9) break;
    factor *= 1.05;
  }
  std::array<double, 3> fov{};
  for (int a = 0; a < 3; ++a) fov[a] = static_cast<double>(patch[a]) * spacing[a];
  out.reasons.push_back(fmt::format("patch {} voxels = {:.0f} mm field of view, median image {:.0f} mm", fmt::join(patch, " x "), fmt::join(fov, " x "),
                                    fmt::join(out.median_extent_mm, " x ")));
  if (factor > 1.0) {
    out.reasons.push_back(fmt::format("context: the full-resolution patch spanned under {:.0f}% of the median image; spacing coarsened {:.2f}x to {:.3g} mm{}",
                                      100 * s.min_context, factor, fmt::join(spacing, " x "),
                                      has_context(patch, spacing, out.median_extent_mm, s.min_context) ? "" : " (the most allowed; context still short)"));
  }
  out.crops_per_case = std::clamp<int64_t>(s.step_voxels / (patch[0] * patch[1] * patch[2]), s.min_batch, s.max_batch);
  out.reasons.push_back(fmt::format("batch: {} crops within a step budget of {} voxels", out.crops_per_case, s.step_voxels));

  // Rule 5.
  PreprocessRecipe& r = plan.preprocessing;
  r.name = "planned";
  r.spacing = spacing;
  r.intensity = planned_intensity(f, s);
  if (r.intensity == Intensity::Ct) {
    r.window_min = f.foreground.percentile_00_5;
    r.window_max = f.foreground.percentile_99_5;
    if (!(r.window_max > r.window_min)) r.window_max = r.window_min + 1;
    out.reasons.push_back(fmt::format("intensity: CT, window {:.1f} to {:.1f} (foreground 0.5 / 99.5 percentiles){}", r.window_min, r.window_max,
                                      s.channel_names.empty() ? "" : " (channel_names)"));
  } else if (r.intensity == Intensity::ZScore) {
    out.reasons.push_back(fmt::format("intensity: per-image z-score of the non-zero voxels ({})", s.channel_names.empty() ? "not CT" : "channel_names"));
  } else {
    out.reasons.push_back(fmt::format("intensity: {} (channel_names)", enum_name(r.intensity)));
  }
  plan.patch = patch;
  plan.network = s.network;
  int64_t classes = 2;
  for (const auto& c : f.cases) {
    const auto found = static_cast<int64_t>(c.class_voxels.size());  // the ignore label, the highest value, is no class
    classes = std::max<int64_t>(classes, s.ignore_label && found > *s.ignore_label ? *s.ignore_label : found);
  }
  if (static_cast<int64_t>(class_names.size()) > classes) classes = static_cast<int64_t>(class_names.size());
  plan.network.out_channels = classes;
  plan.network.in_channels = f.cases.front().channels;
  if (static_cast<int64_t>(class_names.size()) == classes) plan.class_names = class_names;
  if (!s.regions.empty()) {  // one sigmoid output per region, named by the regions
    plan.regions = s.regions;
    plan.network.out_channels = s.regions.size();
    plan.class_names = s.regions.names_with_background();
    out.reasons.push_back(fmt::format("outputs: {} regions (sigmoid), predicted back into the label values {}", s.regions.size(),
                                      fmt::join(plan.regions.label_value_names(), ", ")));
  }
  plan = resolved(plan);
  return out;
}

nlohmann::json to_json(const PlannedTraining& p) {
  nlohmann::json j = to_json(p.plan);
  j["training"]["crops_per_case"] = p.crops_per_case;  // beside the Plan's recipe (model/training_recipe.h)
  j["planned_from"] = {{"full_resolution_spacing", p.full_resolution_spacing}, {"median_extent_mm", p.median_extent_mm}, {"rules", p.reasons}};
  return j;
}

PlannedTraining planned_training_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("plan: expected a JSON object, got {}", j.type_name());
  PlannedTraining p;
  p.crops_per_case = 0;
  nlohmann::json plan = j;
  if (j.contains("training")) {
    check_known_keys(j["training"], {"crops_per_case", "recipe", "foreground_sampling", "deep_supervision"}, "field 'training'");
    p.crops_per_case = field_or(j["training"], "crops_per_case", int64_t{0});
    if (p.crops_per_case < 0) fail("field 'training.crops_per_case': {} is negative", p.crops_per_case);
    plan["training"].erase("crops_per_case");  // the rest is the Plan's training recipe
  }
  if (j.contains("planned_from")) {
    const auto& from = j["planned_from"];
    check_known_keys(from, {"full_resolution_spacing", "median_extent_mm", "rules"}, "field 'planned_from'");
    p.full_resolution_spacing = field_or(from, "full_resolution_spacing", p.full_resolution_spacing);
    p.median_extent_mm = field_or(from, "median_extent_mm", p.median_extent_mm);
    p.reasons = field_or(from, "rules", p.reasons);
  }
  plan.erase("planned_from");
  p.plan = plan_from_json(plan);
  return p;
}

}  // namespace repux
