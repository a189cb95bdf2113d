#pragma once
// From a dataset's fingerprint to a Plan, by rules written out here (nnU-Net's, with one of our own for
// context):
//  1. Spacing: the median spacing per axis. Anisotropic data (one axis's median spacing over 3x the
//     finest and its median voxel count under 1/3 of the smallest other) takes the 10th percentile of
//     that axis's spacings instead, but never finer than the other axes (nnU-Net's rule).
//  2. Patch: the median image size at that spacing (rounded up to multiples of 16), shrunk by 16
//     voxels at a time along the axis where it is largest relative to the median size until
//     min_batch crops fit the step's voxel budget (the memory measure; default the paper's 2 x 96^3).
//  3. Context: the patch must span at least `min_context` of the median image extent (mm) along every
//     axis. Organs that differ by position and shape, not intensity, need it: on such a task the demo's
//     network learned spleen 0.27 and pancreas 0.00 Dice with a 96 mm field of view and 0.95 / 0.92
//     with 192 mm. When the full-resolution patch falls short, the spacing is coarsened (all axes by
//     one factor, in 5% steps, at most `max_coarsening`) and the patch chosen again: nnU-Net's
//     low-resolution configuration, made the plan's choice when context demands it.
//  4. Batch: as many crops as the budget holds, from min_batch to max_batch.
//  5. Intensity: by the dataset's channel_names as nnU-Net (repux/data/dataset.h: intensity_for_channel)
//     unless the modality is given; without them, CT (any image below -500, i.e. air in HU) is clipped to
//     the 0.5 / 99.5 percentiles of the foreground intensities and scaled to [0, 1] (nnU-Net clips to
//     the same percentiles and z-scores; the two differ by an affine map, which the network's first
//     normalisation absorbs, and [0, 1] keeps "above the window" as the crop's foreground); MRI and
//     other images: per-image z-score of the non-zero voxels.
#include "repux/data/fingerprint.h"
#include "repux/enum_names.h"
#include "repux/model/plan.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace repux {

enum class Modality { Auto, Ct, Mri };
template <>
struct EnumNames<Modality> {
  static constexpr const char* what = "modality";
  static constexpr std::pair<Modality, const char*> table[] = {{Modality::Auto, "auto"}, {Modality::Ct, "ct"}, {Modality::Mri, "mri"}};
};

struct PlannerSettings {
  Modality modality = Modality::Auto;
  int64_t step_voxels = 2 * 96 * 96 * 96;  // voxels of one training step (crops x patch)
  int64_t min_batch = 2, max_batch = 8;
  double min_context = 0.5;     // fraction of the median extent the patch must span (0: off)
  double max_coarsening = 4.0;  // of the full-resolution spacing
  double anisotropy = 3.0;
  NetworkConfig network;        // classes and input channels are set from the dataset
  std::vector<std::string> channel_names;  // the dataset's (nnU-Net's channel_names): rule 5 with modality auto
  std::optional<int64_t> ignore_label;     // the dataset's: not counted as a class
  LabelRegions regions;                    // the dataset's region-based labels: one output per region
};

struct PlannedTraining {
  Plan plan;
  int64_t crops_per_case = 2;
  std::array<double, 3> full_resolution_spacing{};  // rule 1's spacing, before rule 3
  std::array<double, 3> median_extent_mm{};
  std::vector<std::string> reasons;                  // one line per rule, with its numbers
};

PlannedTraining plan_from_fingerprint(const DatasetFingerprint& fingerprint, const PlannerSettings& settings,
                                      const std::vector<std::string>& class_names = {});

// The plan file `repux plan` writes and `repux train --plan` reads: the Plan, the batch and the reasons.
nlohmann::json to_json(const PlannedTraining& planned);
// Reads it back strictly: the Plan's fields (its "training" recipe holding crops_per_case too) and
// "planned_from", unknown keys refused. Plans without crops_per_case (written by hand) keep 0: the
// trainer's default.
PlannedTraining planned_training_from_json(const nlohmann::json& j);

}  // namespace repux
