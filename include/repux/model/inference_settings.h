#pragma once
// How a model is run over a volume: the one inference-settings type, with the one set of defaults.
// A Plan carries the settings a model was validated with; a user's flags are an overlay of optional
// values on top of them (merge), so validation, predict and the DICOM node start from the same values
// and differ only where the user said so. The sliding window (infer/sliding_window.h) reads these;
// its own options are only run-time ones (devices, batch size, progress).
#include "repux/enum_names.h"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace repux {

// How overlapping windows are weighted where they meet: equally, by a Gaussian of sigma 1/8 of the
// window centred on it, or by nnU-Net's own Gaussian (compute_gaussian: centred on voxel w // 2,
// scipy's kernel truncated at 4 sigma, scaled to 10 and rounded to float16), for imported models.
enum class Blending { Constant, Gaussian, NnunetGaussian };
template <>
struct EnumNames<Blending> {
  static constexpr const char* what = "blending";
  static constexpr std::pair<Blending, const char*> table[] = {{Blending::Constant, "constant"},
                                                                    {Blending::Gaussian, "gaussian"},
                                                                    {Blending::NnunetGaussian, "nnunet_gaussian"}};
};

// What the windows' blended logits are summed in: float32, or float16 as nnU-Net's predictor sums
// them (predicted_logits and n_predictions are torch.half, in its window order). nnU-Net's float16
// weights underflow near a window's edges, where one window alone covers a voxel, so float16 changes
// probabilities there by up to ~0.1; imported models keep it so that their labels are nnU-Net's own.
enum class Accumulation { Float32, NnunetFloat16 };
template <>
struct EnumNames<Accumulation> {
  static constexpr const char* what = "accumulation";
  static constexpr std::pair<Accumulation, const char*> table[] = {{Accumulation::Float32, "float32"},
                                                                       {Accumulation::NnunetFloat16, "nnunet_float16"}};
};

struct InferenceSettings {
  std::optional<std::array<int64_t, 3>> window;  // none: the plan's patch (a Plan resolves it)
  // 0.25, not nnU-Net's 0.5: 2.3x fewer windows on a 256x256x160 CT for -0.0012 mean Dice on held-out
  // cases of the demo's model (docs/performance.md, "Faster prediction"); models saved with 0.5 keep it.
  double overlap = 0.25;
  Blending blending = Blending::Gaussian;
  std::vector<int64_t> mirror_axes;  // test-time mirroring over these axes (0, 1, 2); empty: none
  // Windows may grow (up to the volume) to hold this many times the window's voxels (fitted_window);
  // 1: windows of exactly `window`. Large-kernel networks are not translation-equivariant at the
  // scale of their patch (a 21^3 kernel spans a 32^3 patch's deeper feature maps, padding included),
  // so windows larger than the training patch cost accuracy: -0.08 mean Dice at 1.5x per axis.
  double window_growth = 1;
  Accumulation accumulation = Accumulation::Float32;
};

// The user's overlay: each set field replaces the settings' own.
struct InferenceOverrides {
  std::optional<std::array<int64_t, 3>> window;
  std::optional<double> overlap;
  std::optional<Blending> blending;
  std::optional<std::vector<int64_t>> mirror_axes;
  std::optional<double> window_growth;  // unset with a window given: 1, that window exactly
  std::optional<Accumulation> accumulation;
};

// `settings` with each field that `over` sets replaced by it. A window set without a growth means
// exactly that window (growth 1), not the settings' growth applied to it.
InferenceSettings merge(InferenceSettings settings, const InferenceOverrides& over);
// Two overlays, `over` winning where both set a field (e.g. --fast, then the user's own flags).
InferenceOverrides merge(InferenceOverrides base, const InferenceOverrides& over);

// `repux predict --fast`: the fewest windows of the patch that cover the volume (overlap 0; evenly
// spread, so they still meet with the overlap that covering takes) and no mirroring: 4.2x fewer
// windows than overlap 0.5 on a 256x256x160 CT, for -0.0076 mean Dice on the demo's held-out cases.
InferenceOverrides fast_inference();

}  // namespace repux
