#include "repux/model/inference_settings.h"

namespace repux {

InferenceSettings merge(InferenceSettings s, const InferenceOverrides& over) {
  if (over.window) s.window = over.window;
  if (over.overlap) s.overlap = *over.overlap;
  if (over.blending) s.blending = *over.blending;
  if (over.mirror_axes) s.mirror_axes = *over.mirror_axes;
  if (over.window || over.window_growth) s.window_growth = over.window_growth.value_or(1.0);
  if (over.accumulation) s.accumulation = *over.accumulation;
  return s;
}

InferenceOverrides merge(InferenceOverrides base, const InferenceOverrides& over) {
  if (over.window) base.window = over.window;
  if (over.overlap) base.overlap = over.overlap;
  if (over.blending) base.blending = over.blending;
  if (over.mirror_axes) base.mirror_axes = over.mirror_axes;
  if (over.window_growth) base.window_growth = over.window_growth;
  if (over.accumulation) base.accumulation = over.accumulation;
  return base;
}

InferenceOverrides fast_inference() {
  InferenceOverrides o;
  o.overlap = 0;  // windows still spread evenly, so they meet with whatever overlap covering takes
  o.mirror_axes = std::vector<int64_t>{};
  return o;
}

}  // namespace repux
