#include "repux/infer/predictor.h"

#include "repux/data/nnunet_preprocess.h"
#include "repux/data/preprocess.h"
#include "repux/data/restore.h"
#include "repux/infer/class_argmax.h"
#include "repux/infer/postprocess.h"
#include "repux/allocator.h"
#include "repux/error.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

namespace repux {

InferenceSettings predict_settings(const Plan& plan, const PredictOptions& options) {
  const InferenceSettings settings = inference_settings(plan, options.overrides);
  SlidingWindowOptions run;
  run.batch_size = options.batch_size;
  check_window_options(settings, run);
  return settings;
}

namespace {

// Labels stored as the smallest integer type that holds every class, the classes named in the
// description, in the image's grid and with its format's details (e.g. NIfTI codes).
// The data keeps that integer type (uint8 or int16, not float32: a quarter or half of the memory of a
// 157M-voxel CT's labels).
Volume label_volume(const torch::Tensor& labels, const Volume& image, const Plan& plan) {
  Volume out;
  const bool bytes = label_classes(plan) <= 256;
  out.data = labels.to(torch::kCPU, bytes ? torch::kUInt8 : torch::kInt16);
  out.affine = image.affine.clone();
  out.format_details = image.format_details;
  out.sample_type = bytes ? SampleType::UInt8 : SampleType::Int16;
  const auto label_names = label_value_names(plan);
  std::string names;
  for (size_t i = 0; i < label_names.size(); ++i) names += (i ? "," : "") + std::to_string(i) + "=" + label_names[i];
  out.description = ("repux " + names).substr(0, 79);
  out.label_names = label_names;
  return out;
}

SlidingWindowOptions run_options(const PredictOptions& options) {
  SlidingWindowOptions o;
  o.batch_size = options.batch_size;
  o.compute_device = options.compute_device;
  o.stitch_device = options.stitch_device.value_or(options.compute_device);
  o.on_progress = options.on_progress;
  o.slab_bytes = options.slab_bytes;
  return o;
}

// Logits [M x K, n, h, w] of M models -> their mean probability [K, n, h, w]: softmax over the
// classes, or with regions a sigmoid per region.
torch::Tensor mean_probabilities(const torch::Tensor& logits, int64_t models, const Plan& plan) {
  const auto per_model = logits.view({models, logits.size(0) / models, logits.size(1), logits.size(2), logits.size(3)});
  auto p = plan.regions.empty() ? torch::softmax(per_model, 1) : torch::sigmoid(per_model);
  return models == 1 ? p[0] : p.mean(0);
}

OutsideCrop outside_crop(const Plan& plan) { return plan.regions.empty() ? OutsideCrop::Background : OutsideCrop::Nothing; }

// Probabilities [K, ...] -> labels [...]: the most probable class, or each region above 0.5 painted
// with its value, in order (nnU-Net's regions_class_order).
torch::Tensor labels_of(const torch::Tensor& probabilities, const Plan& plan) {
  return plan.regions.empty() ? class_argmax(probabilities) : paint_regions(probabilities > 0.5, plan.regions);
}

// Labels (and, when asked for, probabilities) on the RAS grid of the trace.
struct RasResult {
  torch::Tensor labels, probabilities;
};

// The slab path's sliding window: rows along the image's longest axis (the fewest accumulators), and
// float16 shifted-mean accumulators where float32 ones would pass options.float32_accumulator_bytes
// (softmax models only: a sigmoid is not shift-invariant).
SlidingWindowOptions slab_options(const std::array<int64_t, 3>& size, int64_t channels, const Plan& plan, const InferenceSettings& settings,
                                  const PredictOptions& options) {
  SlidingWindowOptions o = run_options(options);
  o.row_axis = longest_axis(size);
  const auto window = fitted_window(size, settings);  // the windows run, grown ones included
  int64_t bytes = channels * 4 * window[o.row_axis];
  for (int a = 0; a < 3; ++a) bytes *= a == o.row_axis ? 1 : std::max(size[a], window[a]);
  const bool large = bytes > options.float32_accumulator_bytes;
  if (large && plan.regions.empty() && o.stitch_device.is_cpu()) o.accumulators = Accumulators::Float16ShiftedMean;
  return o;
}

// Rows are finished, restored and reduced to labels as the windows pass, along the row axis of
// slab_options (so the restorer works in that axis's frame).
RasResult predict_in_slabs(const torch::Tensor& image, const PreprocessTrace& trace, const Plan& plan, int64_t models,
                           const WindowPredictor& net, const InferenceSettings& settings, const PredictOptions& options) {
  const auto& shape = trace.ras.shape;
  const int64_t classes = plan.network.out_channels;
  const auto run = slab_options({image.size(2), image.size(3), image.size(4)}, classes * models, plan, settings, options);
  const auto frame = row_frame(run.row_axis);
  RasResult out;
  out.labels = torch::empty({shape[0], shape[1], shape[2]}, label_classes(plan) <= 256 ? torch::kUInt8 : torch::kInt16);
  if (options.keep_probabilities) out.probabilities = torch::empty({classes, shape[0], shape[1], shape[2]});
  const auto labels = in_axis_order(out.labels, frame);  // views in the frame
  const auto probabilities = out.probabilities.defined() ? in_axis_order(out.probabilities, frame) : torch::Tensor();
  ProbabilityRestorer restorer(trace_in_frame(trace, frame), classes, [&](int64_t row, const torch::Tensor& p) {
    labels.slice(0, row, row + p.size(1)).copy_(labels_of(p, plan));
    if (probabilities.defined()) probabilities.slice(1, row, row + p.size(1)).copy_(p);
  }, options.slab_bytes, outside_crop(plan));
  sliding_window_slabs(image, classes * models, net, settings, run,
                       [&](int64_t, const torch::Tensor& logits) { restorer.add(mean_probabilities(logits, models, plan)); });
  restorer.finish();
  return out;
}

// Every step over the whole volume (Stitching::Whole); the result is already in the original voxel order.
RasResult predict_whole(const torch::Tensor& image, const PreprocessTrace& trace, const Plan& plan, int64_t models,
                        const WindowPredictor& net, const InferenceSettings& settings, const PredictOptions& options) {
  auto logits = sliding_window_inference(image, plan.network.out_channels * models, net, settings, run_options(options))[0];
  auto restored = restore_probabilities(mean_probabilities(logits, models, plan), trace, outside_crop(plan));
  RasResult out;
  out.labels = labels_of(restored, plan);
  if (options.keep_probabilities) out.probabilities = restored.cpu();
  return out;
}

// nnU-Net's way for imported models (Pipeline::NnUNet): the models' logits averaged, resampled onto
// the crop, then softmax or sigmoid; the result is in the original voxel order.
RasResult predict_as_nnunet(const torch::Tensor& image, const PreprocessTrace& trace, const Plan& plan, int64_t models,
                            const WindowPredictor& net, const InferenceSettings& settings, const PredictOptions& options) {
  const ReturnFreedMemory low_peak;  // the whole-volume way holds more at once than repux's slabs
  auto logits = nnunet_sliding_window(image, plan.network.out_channels * models, net, settings, plan.network_axes, run_options(options))[0];
  if (models > 1) logits = logits.view({models, plan.network.out_channels, logits.size(1), logits.size(2), logits.size(3)}).mean(0);
  const bool float16 = settings.accumulation == Accumulation::NnunetFloat16;
  const auto restored = restore_as_nnunet(std::move(logits), trace, plan.preprocessing, !plan.regions.empty(), float16);
  RasResult out;
  out.labels = labels_of(restored, plan);
  if (options.keep_probabilities) out.probabilities = restored;
  return out;
}

}  // namespace

void check_ensemble(const std::vector<LoadedModel>& models, const std::vector<std::string>& names) {
  if (models.empty()) fail("no model to predict with");
  for (size_t i = 0; models.size() > 1 && i < models.size(); ++i) {
    if (!models[i].parts.empty()) fail("{}: a multi-part model cannot be one model of an ensemble", i < names.size() ? names[i] : "model " + std::to_string(i + 1));
  }
  const Plan& first = models[0].info.plan;
  for (size_t i = 1; i < models.size(); ++i) {
    const Plan& plan = models[i].info.plan;
    const std::string name = i < names.size() ? names[i] : "model " + std::to_string(i + 1);
    const std::string reference = names.empty() ? "the first model" : names[0];
    if (plan.network.in_channels != first.network.in_channels || plan.network.out_channels != first.network.out_channels) {
      fail("{}: {} input channel(s) and {} classes, but {} has {} and {}; an ensemble's models must agree", name, plan.network.in_channels,
           plan.network.out_channels, reference, first.network.in_channels, first.network.out_channels);
    }
    if (plan.class_names != first.class_names) fail("{}: its class names differ from those of {}", name, reference);
    if (!(plan.regions == first.regions)) fail("{}: its regions differ from those of {}", name, reference);
    if (to_json(plan.preprocessing) != to_json(first.preprocessing)) {
      fail("{}: preprocessing {} differs from {} of {}; an ensemble's models must preprocess alike", name, to_json(plan.preprocessing).dump(),
           to_json(first.preprocessing).dump(), reference);
    }
  }
}

namespace {

// The label values of the classes named in `subset` (an error names one the plan does not have).
std::vector<int64_t> subset_values(const Plan& plan, const std::vector<std::string>& subset) {
  const auto names = label_value_names(plan);
  std::vector<int64_t> values;
  for (const auto& wanted : subset) {
    const auto it = std::find(names.begin(), names.end(), wanted);
    if (it == names.end() || it == names.begin()) fail("--classes-subset: the model has no class '{}' (it has {})", wanted, fmt::join(names.begin() + 1, names.end(), ", "));
    values.push_back(it - names.begin());
  }
  return values;
}

// Labels outside `values` become background.
void keep_only(Volume& labels, const std::vector<int64_t>& values) {
  auto keep = torch::zeros_like(labels.data, torch::kBool);
  for (int64_t v : values) keep |= labels.data == static_cast<double>(v);
  labels.data = torch::where(keep, labels.data, torch::zeros_like(labels.data));
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A multi-part model: each part on its own (only those with a wanted class), its foreground labels
// moved after the previous parts' classes and painted over the map, part after part.
Prediction predict_parts(LoadedModel& model, const Volume& image, const PredictOptions& options) {
  if (options.keep_probabilities) fail("probabilities of a multi-part model are not written (each part has its own classes); leave out --save-probabilities");
  const auto wanted = subset_values(model.info.plan, options.classes_subset);
  PredictOptions part_options = options;
  part_options.classes_subset.clear();
  Prediction out;
  int64_t offset = 0;
  for (auto& part : model.parts) {
    const int64_t foreground = label_classes(part.info.plan) - 1;
    const bool needed = wanted.empty() || std::any_of(wanted.begin(), wanted.end(), [&](int64_t v) { return v > offset && v <= offset + foreground; });
    if (needed) {
      Prediction p = predict_volume(part, image, part_options);
      if (!out.labels.data.defined()) out.labels = p.labels;
      const auto fg = p.labels.data > 0;
      out.labels.data = torch::where(fg, p.labels.data + static_cast<double>(offset), out.labels.data);
      out.windows += p.windows;
      out.window = p.window;
      out.times += p.times;
    }
    offset += foreground;
  }
  if (!out.labels.data.defined()) fail("no part of the model predicts the classes asked for");
  const Volume named = label_volume(out.labels.data, image, model.info.plan);
  out.labels = named;
  if (!wanted.empty()) keep_only(out.labels, wanted);
  return out;
}

// predict_volume, calling after_preprocessing() once the image's voxels are no longer read (a multi-part
// model's parts each read them: not called).
Prediction predict_models(std::vector<LoadedModel>& models, const Volume& image, const std::function<void()>& after_preprocessing,
                          const PredictOptions& options) {
  if (models.size() == 1 && !models[0].parts.empty()) return predict_parts(models[0], image, options);
  check_ensemble(models, {});
  const Plan& plan = models[0].info.plan;
  if (image.channels() != plan.network.in_channels) {
    fail("the image has {} channel(s) but the model expects {}", image.channels(), plan.network.in_channels);
  }
  const InferenceSettings settings = predict_settings(plan, options);
  Prediction out;
  const auto t_start = Clock::now();
  if (options.measure_memory) reset_peak_resident();
  const PreparedCase prepared = preprocess(image, plan.preprocessing);
  if (after_preprocessing) after_preprocessing();
  release_free_memory();  // preprocessing's temporaries (e.g. resampling's) are not held under the windows
  out.times.preprocess = seconds_since(t_start);
  if (options.measure_memory) {
    out.times.preprocess_peak = peak_resident_bytes();
    reset_peak_resident();
  }
  double& network_seconds = out.times.network;
  torch::NoGradGuard no_grad;
  for (auto& m : models) m.net->eval();
  // Every model on the same windows (in the network's axes), their logits side by side along the channels.
  const auto& axes = plan.network_axes;
  const bool own_order = axes == std::array<int64_t, 3>{0, 1, 2};
  const WindowPredictor net = [&](const torch::Tensor& x) {
    const auto t0 = Clock::now();
    AutocastScope amp(options.compute_device.type(), options.precision);
    const auto input = own_order ? x : in_axis_order(x, axes).contiguous();
    std::vector<torch::Tensor> logits;
    for (auto& m : models) logits.push_back(m.net->forward(input).to(torch::kFloat32));
    const auto all = logits.size() == 1 ? logits[0] : torch::cat(logits, 1);
    auto result = own_order ? all : from_axis_order(all, axes).contiguous();
    network_seconds += seconds_since(t0);
    return result;
  };
  const auto& trace = prepared.trace;
  const int64_t count = static_cast<int64_t>(models.size());
  const auto input = prepared.image.unsqueeze(0);
  const std::array<int64_t, 3> size{input.size(2), input.size(3), input.size(4)};
  out.window = fitted_window(size, settings);
  out.windows = window_count(size, out.window, settings.overlap);
  // Connected components do not change under reorientation (axes permuted or flipped), so the labels
  // are post-processed wherever they are at hand.
  const auto postprocessed = [&](const torch::Tensor& labels) {
    return options.postprocess && !plan.postprocessing.empty() ? apply_postprocessing(labels, plan.postprocessing) : labels;
  };
  const bool as_nnunet = plan.preprocessing.pipeline == Pipeline::NnUNet;
  const bool whole = options.stitching == Stitching::Whole || as_nnunet;
  const auto t_windows = Clock::now();
  RasResult r = as_nnunet ? predict_as_nnunet(input, trace, plan, count, net, settings, options)
                : whole   ? predict_whole(input, trace, plan, count, net, settings, options)
                          : predict_in_slabs(input, trace, plan, count, net, settings, options);
  out.times.stitching = seconds_since(t_windows) - out.times.network;
  const auto t_post = Clock::now();
  if (whole) {
    out.labels = label_volume(postprocessed(r.labels), image, plan);
    if (r.probabilities.defined()) out.probabilities.data = r.probabilities;
  } else {
    out.labels = label_volume(undo_reorientation(postprocessed(r.labels), trace.orientation), image, plan);
    if (r.probabilities.defined()) out.probabilities.data = undo_reorientation(r.probabilities, trace.orientation);
  }
  if (!options.classes_subset.empty()) keep_only(out.labels, subset_values(plan, options.classes_subset));
  out.times.postprocess = seconds_since(t_post);
  if (options.measure_memory) out.times.windows_peak = peak_resident_bytes();
  if (options.keep_probabilities) {
    out.probabilities.affine = image.affine.clone();
    out.probabilities.format_details = image.format_details;
    out.probabilities.description = out.labels.description;
  }
  return out;
}

}  // namespace

PredictionTimes& PredictionTimes::operator+=(const PredictionTimes& o) {
  preprocess += o.preprocess;
  network += o.network;
  stitching += o.stitching;
  postprocess += o.postprocess;
  return *this;
}

Prediction predict_volume(LoadedModel& model, const Volume& image, const PredictOptions& options) {
  if (!model.parts.empty()) return predict_parts(model, image, options);
  std::vector<LoadedModel> one{model};
  return predict_volume(one, image, options);
}

Prediction predict_volume(std::vector<LoadedModel>& models, const Volume& image, const PredictOptions& options) {
  return predict_models(models, image, {}, options);
}

Prediction predict_volume_releasing_voxels(std::vector<LoadedModel>& models, Volume& image, const PredictOptions& options) {
  return predict_models(models, image, [&] { image.data = torch::Tensor(); }, options);
}

}  // namespace repux
