#include "repux/infer/predictor.h"

#include "repux/data/preprocess.h"
#include "repux/error.h"

namespace repux {

SlidingWindowOptions predict_window_options(const Plan& plan, const PredictOptions& options) {
  SlidingWindowOptions o = sliding_window_options(plan);
  const InferenceOverrides& user = options.overrides;
  if (user.window) o.window = *user.window;
  if (user.overlap) o.overlap = *user.overlap;
  if (user.blending) o.blending = *user.blending;
  if (user.mirror_axes) o.mirror_axes = *user.mirror_axes;
  o.batch_size = options.batch_size;
  o.compute_device = options.compute_device;
  o.stitch_device = options.stitch_device.value_or(options.compute_device);
  o.on_progress = options.on_progress;
  check_window_options(o);
  return o;
}

namespace {

// Labels stored as the smallest integer type that holds every class, the classes named in the
// description, in the image's grid and with its format's details (e.g. NIfTI codes).
Volume label_volume(const torch::Tensor& labels, const Volume& image, const Plan& plan) {
  Volume out;
  out.data = labels.to(torch::kFloat32).cpu();
  out.affine = image.affine.clone();
  out.format_details = image.format_details;
  out.sample_type = plan.network.out_channels <= 256 ? SampleType::UInt8 : SampleType::Int16;
  std::string names;
  for (size_t i = 0; i < plan.class_names.size(); ++i) names += (i ? "," : "") + std::to_string(i) + "=" + plan.class_names[i];
  out.description = ("repux " + names).substr(0, 79);
  return out;
}

}  // namespace

Prediction predict_volume(LoadedModel& model, const Volume& image, const PredictOptions& options) {
  const Plan& plan = model.info.plan;
  if (image.channels() != plan.network.in_channels) {
    fail("the image has {} channel(s) but the model expects {}", image.channels(), plan.network.in_channels);
  }
  const SlidingWindowOptions window = predict_window_options(plan, options);
  const PreparedCase prepared = preprocess(image, plan.preprocessing);
  torch::NoGradGuard no_grad;
  model.net->eval();
  auto logits = sliding_window_inference(prepared.image.unsqueeze(0), plan.network.out_channels,
                                         [&](const torch::Tensor& x) {
                                           AutocastScope amp(window.compute_device.type(), options.precision);
                                           return model.net->forward(x).to(torch::kFloat32);
                                         }, window);
  auto restored = restore_probabilities(torch::softmax(logits[0], 0), prepared.trace);

  Prediction out;
  out.labels = label_volume(restored.argmax(0), image, plan);
  if (options.keep_probabilities) {
    out.probabilities.data = restored.cpu();
    out.probabilities.affine = image.affine.clone();
    out.probabilities.format_details = image.format_details;
    out.probabilities.description = out.labels.description;
  }
  return out;
}

}  // namespace repux
