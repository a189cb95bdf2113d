#include "repux/infer/predictor.h"

#include "repux/data/preprocess.h"
#include "repux/error.h"
#include "repux/io/nifti.h"

namespace repux {

Prediction predict_volume(LoadedModel& model, const Volume& image, const PredictOptions& options) {
  const auto& net_config = model.info.network;
  if (image.channels() != net_config.in_channels) {
    fail("the image has {} channel(s) but the model expects {}", image.channels(), net_config.in_channels);
  }
  const PreprocessRecipe recipe = preprocess_recipe_from_json(model.info.preprocessing);
  const PreparedCase prepared = preprocess(image, recipe);
  torch::NoGradGuard no_grad;
  model.net->eval();
  auto logits = sliding_window_inference(prepared.image.unsqueeze(0), net_config.out_channels,
                                         [&](const torch::Tensor& x) {
                                           AutocastScope amp(options.window.compute_device.type(), options.precision);
                                           return model.net->forward(x).to(torch::kFloat32);
                                         }, options.window);
  auto probabilities = torch::softmax(logits[0], 0);
  auto restored = restore_probabilities(probabilities, prepared.trace);

  Prediction out;
  out.labels.data = restored.argmax(0).to(torch::kFloat32).cpu();
  out.labels.affine = image.affine.clone();
  out.labels.meta = image.meta;
  out.labels.meta.datatype = nifti_datatype_from_name(net_config.out_channels <= 256 ? "uint8" : "int16");
  out.labels.meta.scl_slope = 1.0;
  out.labels.meta.scl_inter = 0.0;
  std::string names;
  for (size_t i = 0; i < model.info.class_names.size(); ++i) names += (i ? "," : "") + std::to_string(i) + "=" + model.info.class_names[i];
  out.labels.meta.description = ("repux " + names).substr(0, 79);
  if (options.keep_probabilities) {
    out.probabilities.data = restored.cpu();
    out.probabilities.affine = image.affine.clone();
    out.probabilities.meta = out.labels.meta;
    out.probabilities.meta.datatype = nifti_datatype_from_name("float32");
  }
  return out;
}

}  // namespace repux
