#include "repux/model/nnunet_import.h"

#include "repux/data/dataset.h"
#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/io/torch_checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <optional>

namespace repux {
namespace fs = std::filesystem;
namespace {

// "torch.nn.modules.conv.Conv3d" -> "Conv3d"; null -> "".
std::string class_name(const nlohmann::json& j, const std::string& field, const std::string& source) {
  if (j.is_null()) return "";
  if (!j.is_string()) fail("{}: arch_kwargs field '{}' is {}, expected a class name", source, field, j.dump());
  const std::string s = j.get<std::string>();
  return s.substr(s.rfind('.') + 1);
}

// An int (the same for every stage) or a list of one per stage.
std::vector<int64_t> per_stage(const nlohmann::json& j, int64_t stages, const std::string& field, const std::string& source) {
  try {
    if (j.is_number_integer()) return std::vector<int64_t>(stages, j.get<int64_t>());
    return j.get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: arch_kwargs field '{}': {} (got {})", source, field, json_problem(e), j.dump());
  }
}

// Kernel sizes or strides: an int, a list of ints (cubic per stage) or a list of [z, y, x] per stage.
std::vector<Triple> per_stage_triples(const nlohmann::json& j, int64_t stages, const std::string& field, const std::string& source) {
  std::vector<Triple> out;
  try {
    if (j.is_number_integer()) return std::vector<Triple>(stages, Triple{j.get<int64_t>(), j.get<int64_t>(), j.get<int64_t>()});
    for (const auto& item : j) {
      if (item.is_number_integer()) out.push_back({item.get<int64_t>(), item.get<int64_t>(), item.get<int64_t>()});
      else if (item.size() == 3) out.push_back(item.get<Triple>());
      else fail("{}: arch_kwargs field '{}': {} is not 3D (repux runs 3D configurations only)", source, field, item.dump());
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: arch_kwargs field '{}': {} (got {})", source, field, json_problem(e), j.dump());
  }
  return out;
}

// A kwargs object (an empty one for null); a key outside `known` is refused, naming it.
nlohmann::json kwargs(const nlohmann::json& a, const char* field, std::initializer_list<const char*> known, const std::string& source) {
  const nlohmann::json j = a.value(field, nlohmann::json());
  if (j.is_null()) return nlohmann::json::object();
  check_known_keys(j, known, fmt::format("{}: arch_kwargs field '{}'", source, field));
  return j;
}

void read_norm(const nlohmann::json& a, UNetArchitecture& arch, const std::string& source) {
  const std::string norm = class_name(a.value("norm_op", nlohmann::json()), "norm_op", source);
  if (norm.empty()) arch.norm = UNetNorm::None;
  else if (norm == "InstanceNorm3d") arch.norm = UNetNorm::Instance;
  else if (norm == "BatchNorm3d") arch.norm = UNetNorm::Batch;
  else fail("{}: norm_op {} is not one repux has (InstanceNorm3d, BatchNorm3d, None)", source, norm);
  const auto k = kwargs(a, "norm_op_kwargs", {"eps", "momentum", "affine", "track_running_stats"}, source);
  arch.norm_eps = k.value("eps", 1e-5);
  arch.norm_momentum = k.value("momentum", 0.1);
  arch.norm_affine = k.value("affine", arch.norm != UNetNorm::Instance);  // torch's defaults
  if (k.contains("track_running_stats") && k["track_running_stats"].get<bool>() != (arch.norm == UNetNorm::Batch)) {
    fail("{}: norm_op_kwargs track_running_stats {} for {} is an option repux does not have", source, k["track_running_stats"].dump(), norm);
  }
}

void read_dropout_and_nonlin(const nlohmann::json& a, UNetArchitecture& arch, const std::string& source) {
  const std::string dropout = class_name(a.value("dropout_op", nlohmann::json()), "dropout_op", source);
  if (!dropout.empty() && dropout != "Dropout3d") fail("{}: dropout_op {} is not one repux has (Dropout3d, None)", source, dropout);
  const auto dk = kwargs(a, "dropout_op_kwargs", {"p", "inplace"}, source);
  arch.dropout = dropout.empty() ? 0.0 : dk.value("p", 0.5);
  const std::string nonlin = class_name(a.value("nonlin", nlohmann::json()), "nonlin", source);
  if (nonlin.empty()) arch.nonlin = UNetNonlin::None;
  else if (nonlin == "LeakyReLU") arch.nonlin = UNetNonlin::LeakyReLU;
  else if (nonlin == "ReLU") arch.nonlin = UNetNonlin::ReLU;
  else fail("{}: nonlin {} is not one repux has (LeakyReLU, ReLU, None)", source, nonlin);
  arch.negative_slope = kwargs(a, "nonlin_kwargs", {"negative_slope", "inplace"}, source).value("negative_slope", 0.01);
}

// Options of the residual encoder that nnU-Net's plans leave at their defaults; any other value is refused.
void refuse_residual_options(const nlohmann::json& a, UNetArchitecture& arch, const std::string& source) {
  if (a.contains("block") && class_name(a["block"], "block", source) != "BasicBlockD") {
    fail("{}: block {} is not one repux has (BasicBlockD)", source, a["block"].dump());
  }
  if (!a.value("bottleneck_channels", nlohmann::json()).is_null()) fail("{}: bottleneck_channels is an option repux does not have", source);
  for (const char* key : {"pool", "pool_type"}) {
    if (a.contains(key) && a[key] != "conv") fail("{}: {} {} is an option repux does not have (strided convolutions only)", source, key, a[key].dump());
  }
  if (a.value("stochastic_depth_p", 0.0) != 0.0) fail("{}: stochastic_depth_p is an option repux does not have", source);
  if (a.value("squeeze_excitation", false)) fail("{}: squeeze_excitation is an option repux does not have", source);
  if (a.contains("stem_channels") && !a["stem_channels"].is_null()) arch.stem_channels = a["stem_channels"].get<int64_t>();
}

UNetArchitecture architecture_from_kwargs(const std::string& network_class, const nlohmann::json& a, const std::string& source) {
  UNetArchitecture arch;
  const std::string cls = network_class.substr(network_class.rfind('.') + 1);
  if (cls == "PlainConvUNet") arch.network = UNetClass::PlainConv;
  else if (cls == "ResidualEncoderUNet") arch.network = UNetClass::ResidualEncoder;
  else fail("{}: network class {} is not one repux has (PlainConvUNet, ResidualEncoderUNet)", source, network_class);
  if (!a.is_object()) fail("{}: arch_kwargs is {}, expected an object", source, a.dump());
  check_known_keys(a, {"n_stages", "features_per_stage", "conv_op", "kernel_sizes", "strides", "n_conv_per_stage", "n_blocks_per_stage",
                       "n_conv_per_stage_decoder", "conv_bias", "norm_op", "norm_op_kwargs", "dropout_op", "dropout_op_kwargs", "nonlin",
                       "nonlin_kwargs", "deep_supervision", "nonlin_first", "block", "bottleneck_channels", "stem_channels", "pool",
                       "pool_type", "stochastic_depth_p", "squeeze_excitation", "squeeze_excitation_reduction_ratio"},
                   source + ": arch_kwargs");
  const std::string conv = class_name(a.value("conv_op", nlohmann::json()), "conv_op", source);
  if (conv != "Conv3d") fail("{}: conv_op {} is not 3D (repux runs 3D configurations only)", source, conv.empty() ? "None" : conv);
  const int64_t n = a.value("n_stages", int64_t{0});
  arch.features = per_stage(a.value("features_per_stage", nlohmann::json()), n, "features_per_stage", source);
  arch.kernel_sizes = per_stage_triples(a.value("kernel_sizes", nlohmann::json()), n, "kernel_sizes", source);
  arch.strides = per_stage_triples(a.value("strides", nlohmann::json()), n, "strides", source);
  const char* encoder = arch.network == UNetClass::PlainConv ? "n_conv_per_stage" : "n_blocks_per_stage";
  arch.encoder_convs = per_stage(a.value(encoder, nlohmann::json()), n, encoder, source);
  arch.decoder_convs = per_stage(a.value("n_conv_per_stage_decoder", nlohmann::json()), n - 1, "n_conv_per_stage_decoder", source);
  arch.conv_bias = a.value("conv_bias", false);
  read_norm(a, arch, source);
  read_dropout_and_nonlin(a, arch, source);
  if (arch.network == UNetClass::PlainConv) {
    arch.nonlin_first = a.value("nonlin_first", false);
    for (const char* key : {"block", "bottleneck_channels", "stem_channels"}) {
      if (a.contains(key)) fail("{}: arch_kwargs field '{}' is not an option of PlainConvUNet", source, key);
    }
  } else {
    if (a.contains("nonlin_first")) fail("{}: arch_kwargs field 'nonlin_first' is not an option of ResidualEncoderUNet", source);
    refuse_residual_options(a, arch, source);
  }
  if (static_cast<int64_t>(arch.features.size()) != n) fail("{}: n_stages is {} but features_per_stage has {} entries", source, n, arch.features.size());
  try {
    check_unet_architecture(arch);
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return arch;
}

// nnU-Net's conversion of the older plans format (plans_handler.py's ConfigurationManager).
UNetArchitecture architecture_from_old_plans(const nlohmann::json& c, const std::string& source) {
  try {
    const int64_t n = static_cast<int64_t>(c.at("n_conv_per_stage_encoder").size());
    const int64_t base = c.at("UNet_base_num_features").get<int64_t>(), top = c.at("unet_max_num_features").get<int64_t>();
    std::vector<int64_t> features;
    for (int64_t i = 0; i < n; ++i) features.push_back(std::min(base << i, top));
    const std::string cls = c.at("UNet_class_name").get<std::string>();
    nlohmann::json a = {{"n_stages", n},
                        {"features_per_stage", features},
                        {"conv_op", "torch.nn.modules.conv.Conv3d"},
                        {"kernel_sizes", c.at("conv_kernel_sizes")},
                        {"strides", c.at("pool_op_kernel_sizes")},
                        {cls == "PlainConvUNet" ? "n_conv_per_stage" : "n_blocks_per_stage", c.at("n_conv_per_stage_encoder")},
                        {"n_conv_per_stage_decoder", c.at("n_conv_per_stage_decoder")},
                        {"conv_bias", true},
                        {"norm_op", "InstanceNorm3d"},
                        {"norm_op_kwargs", {{"eps", 1e-5}, {"affine", true}}},
                        {"dropout_op", nullptr},
                        {"nonlin", "torch.nn.LeakyReLU"},
                        {"nonlin_kwargs", {{"inplace", true}}}};
    if (c.contains("patch_size") && c["patch_size"].size() != 3) fail("{}: a {}D configuration (repux runs 3D ones only)", source, c["patch_size"].size());
    return architecture_from_kwargs(cls, a, source);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the older plans format without {}", source, json_problem(e));
  }
}

// Which channels' normalisation and its parameters: one scheme for every channel (repux's recipe
// has one), CT's statistics the same for every channel.
void read_normalisation(const nlohmann::json& plans, const nlohmann::json& c, int64_t channels, PreprocessRecipe& r, const std::string& source) {
  const auto schemes = c.value("normalization_schemes", std::vector<std::string>{});
  const auto use_mask = c.value("use_mask_for_norm", std::vector<bool>{});
  if (static_cast<int64_t>(schemes.size()) != channels) fail("{}: {} normalization_schemes for {} channels", source, schemes.size(), channels);
  for (const auto& s : schemes) {
    if (s != schemes[0]) fail("{}: normalization_schemes {} differ between channels; repux normalises every channel alike", source, nlohmann::json(schemes).dump());
  }
  const std::string& scheme = schemes[0];
  if (scheme == "CTNormalization") {
    const auto& props = plans.at("foreground_intensity_properties_per_channel");
    const auto& p0 = props.at("0");
    for (int64_t ch = 1; ch < channels; ++ch) {
      if (props.at(std::to_string(ch)) != p0) fail("{}: CTNormalization with other statistics per channel is not supported", source);
    }
    r.intensity = Intensity::CtNormalization;
    r.window_min = p0.at("percentile_00_5").get<double>();
    r.window_max = p0.at("percentile_99_5").get<double>();
    r.ct_mean = p0.at("mean").get<double>();
    r.ct_std = p0.at("std").get<double>();
  } else if (scheme == "ZScoreNormalization") {
    const bool masked = !use_mask.empty() && use_mask[0];
    for (bool m : use_mask) {
      if (m != masked) fail("{}: use_mask_for_norm differs between channels; repux normalises every channel alike", source);
    }
    r.intensity = masked ? Intensity::ZScore : Intensity::ZScoreAll;
  } else if (scheme == "NoNormalization") {
    r.intensity = Intensity::None;
  } else if (scheme == "RescaleTo01Normalization") {
    r.intensity = Intensity::Rescale;
  } else if (scheme == "RGBTo01Normalization") {
    r.intensity = Intensity::Rgb;
  } else {
    fail("{}: normalization scheme {} is not one repux has", source, scheme);
  }
}

// resampling_fn_data or resampling_fn_probabilities and their kwargs; only nnU-Net's default function.
NnunetResampling read_resampling(const nlohmann::json& c, const std::string& field, NnunetResampling defaults, const std::string& source) {
  const std::string fn = c.value(field, "resample_data_or_seg_to_shape");
  if (fn != "resample_data_or_seg_to_shape") fail("{}: {} {} is not one repux has (resample_data_or_seg_to_shape)", source, field, fn);
  nlohmann::json k = c.value(field + "_kwargs", nlohmann::json::object());
  if (k.value("is_seg", false)) fail("{}: {}_kwargs is_seg true is not one repux has for images and logits", source, field);
  k.erase("is_seg");
  if (k.contains("separate_z_anisotropy_threshold")) {
    k["anisotropy_threshold"] = k["separate_z_anisotropy_threshold"];
    k.erase("separate_z_anisotropy_threshold");
  }
  if (!k.contains("order")) k["order"] = defaults.order;
  if (!k.contains("order_z")) k["order_z"] = defaults.order_z;
  return nnunet_resampling_from_json(k, source + ": " + field + "_kwargs");
}

// network axis n = volume axis 2 - transpose_forward[n]: repux holds volumes as (i, j, k), nnU-Net's
// readers give (k, j, i), then transpose_forward permutes those.
std::array<int64_t, 3> network_axes_of(const nlohmann::json& plans, const std::string& source) {
  const auto tf = plans.value("transpose_forward", std::vector<int64_t>{0, 1, 2});
  std::array<int64_t, 3> axes{};
  if (tf.size() != 3) fail("{}: transpose_forward {} is not a permutation of 0, 1, 2", source, nlohmann::json(tf).dump());
  for (int n = 0; n < 3; ++n) axes[n] = 2 - tf[n];
  return axes;
}

template <typename T>
std::array<T, 3> to_volume_axes(const std::vector<T>& network, const std::array<int64_t, 3>& axes, const char* field, const std::string& source) {
  if (network.size() != 3) fail("{}: configuration field '{}' has {} values, expected 3", source, field, network.size());
  std::array<T, 3> v{};
  for (int n = 0; n < 3; ++n) v[axes[n]] = network[n];
  return v;
}

Plan plan_from_nnunet(const nlohmann::json& plans, const nlohmann::json& c, const Dataset& dataset, const nlohmann::json& mirror,
                      const std::string& source) {
  Plan p;
  p.network_axes = network_axes_of(plans, source);
  const std::string reader = plans.value("image_reader_writer", "SimpleITKIO");
  if (reader != "SimpleITKIO" && reader != "NibabelIO" && reader != "NibabelIOWithReorient") {
    fail("{}: image_reader_writer {} is not one repux reads as nnU-Net does (SimpleITKIO, NibabelIO, NibabelIOWithReorient)", source, reader);
  }
  p.network.arch = "nnunet";
  p.network.unet = nnunet_architecture(c, source);
  p.network.in_channels = static_cast<int64_t>(dataset.channel_names.size());
  if (p.network.in_channels < 1) fail("{}: the dataset.json names no channel_names", dataset.description);
  p.regions = dataset.regions;
  p.network.out_channels = dataset.regions.empty() ? static_cast<int64_t>(dataset.class_names.size()) : static_cast<int64_t>(dataset.regions.size());
  p.class_names = dataset.class_names;
  PreprocessRecipe& r = p.preprocessing;
  r.name = "nnunet";
  r.orient_ras = reader == "NibabelIOWithReorient";
  r.crop_foreground = false;
  r.pipeline = Pipeline::NnUNet;
  r.resampling = read_resampling(c, "resampling_fn_data", NnunetResampling(), source);
  r.probability_resampling = read_resampling(c, "resampling_fn_probabilities", linear_nnunet_resampling(), source);
  r.spacing = to_volume_axes(c.value("spacing", std::vector<double>{}), p.network_axes, "spacing", source);
  read_normalisation(plans, c, p.network.in_channels, r, source);
  p.patch = to_volume_axes(c.value("patch_size", std::vector<int64_t>{}), p.network_axes, "patch_size", source);
  p.inference.window = p.patch;
  p.inference.overlap = 0.5;  // nnU-Net's tile_step_size 0.5
  p.inference.blending = Blending::NnunetGaussian;
  p.inference.accumulation = Accumulation::NnunetFloat16;
  p.inference.window_growth = 1;
  if (mirror.is_array()) {
    for (const auto& a : mirror) p.inference.mirror_axes.push_back(p.network_axes.at(a.get<int64_t>()));
    std::sort(p.inference.mirror_axes.begin(), p.inference.mirror_axes.end());
  }
  return resolved(p);
}

// The checkpoint's network weights without the aliases nn.Module's state_dict writes twice:
// `all_modules.N` (the same modules as conv/norm) and `decoder.encoder.` (the decoder's reference
// to the encoder).
NamedTensors network_weights(const TorchCheckpoint& checkpoint, const std::string& path) {
  auto it = checkpoint.state_dicts.find("network_weights");
  if (it == checkpoint.state_dicts.end()) fail("{}: no 'network_weights' (not an nnU-Net training checkpoint)", path);
  NamedTensors weights;
  for (const auto& [name, t] : it->second) {
    if (name.find(".all_modules.") != std::string::npos || name.rfind("decoder.encoder.", 0) == 0) continue;
    weights.emplace_back(name, t);
  }
  return weights;
}

// The postprocessing.pkl nnU-Net's find_best_configuration writes: in the folder itself, or in one of
// its crossval_results_folds_*/ (the last by name, which holds the most folds). Empty: none.
std::string postprocessing_file(const fs::path& folder) {
  if (fs::is_regular_file(folder / "postprocessing.pkl")) return (folder / "postprocessing.pkl").string();
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const auto file = entry.path() / "postprocessing.pkl";
    if (entry.is_directory() && entry.path().filename().string().rfind("crossval_results_folds_", 0) == 0 && fs::is_regular_file(file)) {
      found.push_back(file.string());
    }
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? "" : found.back();
}

// The labels of labels_or_regions (a label, a region's tuple, or a list of either) in one list;
// false when something else is there.
bool flatten_labels(const nlohmann::json& j, std::vector<int64_t>& out) {
  if (j.is_number_integer()) {
    out.push_back(j.get<int64_t>());
    return true;
  }
  if (!j.is_array()) return false;
  for (const auto& item : j) {
    if (!flatten_labels(item, out)) return false;
  }
  return true;
}

// One (function, kwargs) step of the pickle as repux's, or a reason to skip it.
std::optional<KeepLargestStep> keep_largest_step(const nlohmann::json& fn, const nlohmann::json& kw, std::string& why) {
  const std::string name = fn.is_object() ? fn.value("__global__", "") : "";
  if (name.substr(name.rfind('.') + 1) != "remove_all_but_largest_component_from_segmentation") {
    why = fmt::format("{} is not a function repux has", name.empty() ? fn.dump() : name);
    return std::nullopt;
  }
  KeepLargestStep step;
  const nlohmann::json args = kw.is_object() ? kw : nlohmann::json::object();
  for (const auto& [key, value] : args.items()) {
    if (key == "labels_or_regions" && flatten_labels(value, step.labels)) continue;
    if (key == "background_label" && value.is_number_integer()) {
      step.background = value.get<int64_t>();
      continue;
    }
    why = fmt::format("argument {}={} is not one repux has", key, value.dump());
    return std::nullopt;
  }
  if (step.labels.empty()) {
    why = "it names no labels_or_regions";
    return std::nullopt;
  }
  return step;
}

// nnU-Net's (functions, kwargs) pair as repux's post-processing; the steps it cannot run are named in
// `skipped` and left out. Components are counted with skimage's full (26-) connectivity, as nnU-Net does.
Postprocessing postprocessing_from_pickle(const nlohmann::json& pkl, const std::string& path, std::vector<std::string>& skipped) {
  if (!pkl.is_array() || pkl.size() != 2 || !pkl[0].is_array() || !pkl[1].is_array() || pkl[0].size() != pkl[1].size()) {
    fail("{}: not nnU-Net's post-processing (a pair of lists: the functions and their arguments)", path);
  }
  Postprocessing p;
  p.connectivity = Connectivity::Corners;
  for (size_t i = 0; i < pkl[0].size(); ++i) {
    std::string why;
    if (auto step = keep_largest_step(pkl[0][i], pkl[1][i], why)) {
      p.keep_largest.push_back(*step);
    } else {
      skipped.push_back(fmt::format("step {}: {}; skipped", i + 1, why));
    }
  }
  return p;
}

std::string folder_configuration(const fs::path& folder) {
  const std::string name = folder.filename().string();
  const auto last = name.rfind("__");
  return last == std::string::npos ? "" : name.substr(last + 2);
}

}  // namespace

nlohmann::json nnunet_configuration(const nlohmann::json& plans, const std::string& name, const std::string& source) {
  const auto& configurations = plans.value("configurations", nlohmann::json::object());
  nlohmann::json c = nlohmann::json::object();
  std::string current = name;
  std::vector<std::string> chain;
  while (!current.empty()) {
    if (!configurations.contains(current)) fail("{}: no configuration '{}' (it has {})", source, current, configurations.size());
    if (std::find(chain.begin(), chain.end(), current) != chain.end()) fail("{}: configuration '{}' inherits from itself", source, current);
    chain.push_back(current);
    nlohmann::json own = configurations[current];
    own.update(c);  // the child's fields win over its parent's
    c = own;
    current = configurations[current].value("inherits_from", "");
  }
  c.erase("inherits_from");
  return c;
}

UNetArchitecture nnunet_architecture(const nlohmann::json& c, const std::string& source) {
  if (!c.contains("architecture")) return architecture_from_old_plans(c, source);
  const auto& arch = c["architecture"];
  return architecture_from_kwargs(arch.value("network_class_name", ""), arch.value("arch_kwargs", nlohmann::json()), source);
}

std::vector<std::string> nnunet_folds(const std::string& folder) {
  std::vector<std::string> folds;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("fold_", 0) == 0) folds.push_back(name.substr(5));
  }
  std::sort(folds.begin(), folds.end());
  return folds;
}

LoadedModel import_nnunet_model(const NnunetImportOptions& o) {
  const fs::path folder(o.folder);
  const std::string plans_path = (folder / "plans.json").string(), dataset_path = (folder / "dataset.json").string();
  for (const auto& f : {plans_path, dataset_path}) {
    if (!fs::is_regular_file(f)) fail("{}: not an nnU-Net results folder (no {})", o.folder, fs::path(f).filename().string());
  }
  const std::string checkpoint_path = (folder / ("fold_" + o.fold) / o.checkpoint).string();
  if (!fs::is_regular_file(checkpoint_path)) fail("{}: not found (folds here: {})", checkpoint_path, fmt::join(nnunet_folds(o.folder), ", "));
  const TorchCheckpoint checkpoint = read_torch_checkpoint(checkpoint_path);
  const nlohmann::json& v = checkpoint.values;
  std::string configuration = folder_configuration(folder);
  if (v.contains("init_args") && v["init_args"].contains("configuration")) configuration = v["init_args"]["configuration"].get<std::string>();
  if (configuration.empty()) fail("{}: no configuration in the folder's name or the checkpoint", o.folder);

  const nlohmann::json plans = read_json_file(plans_path);
  const nlohmann::json c = nnunet_configuration(plans, configuration, plans_path);
  const Dataset dataset = read_dataset_description(dataset_path);
  LoadedModel m;
  const std::string source = plans_path + ": configuration '" + configuration + "'";
  try {  // a field of the wrong type anywhere in the plans: one error naming the file
    m.info.plan = plan_from_nnunet(plans, c, dataset, v.value("inference_allowed_mirroring_axes", nlohmann::json()), source);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", source, json_problem(e));
  }
  m.info.provenance = {{"imported_from", "nnU-Net"},
                       {"folder", o.folder},
                       {"fold", o.fold},
                       {"checkpoint", o.checkpoint},
                       {"configuration", configuration},
                       {"plans_name", plans.value("plans_name", "")},
                       {"dataset_name", plans.value("dataset_name", "")},
                       {"trainer_name", v.value("trainer_name", "")},
                       {"epochs", v.value("current_epoch", nlohmann::json())},
                       {"best_ema_foreground_dice", v.value("_best_ema", nlohmann::json())},
                       {"inference_allowed_mirroring_axes", v.value("inference_allowed_mirroring_axes", nlohmann::json())}};
  if (const std::string pp = postprocessing_file(folder); !pp.empty()) {
    std::vector<std::string> skipped;
    m.info.plan.postprocessing = postprocessing_from_pickle(read_pickle_file(pp), pp, skipped);
    try {
      check_postprocessing(m.info.plan.postprocessing, label_classes(m.info.plan));
    } catch (const Error& e) {
      fail("{}: {}", pp, e.what());
    }
    m.info.provenance["postprocessing"] = {{"file", pp}, {"skipped", skipped}};
  }
  m.net = create_network(m.info.plan.network);
  load_state_dict(m.net, network_weights(checkpoint, checkpoint_path), KernelForm::Effective, checkpoint_path);
  m.net->eval();
  return m;
}

namespace {

bool is_results_folder(const fs::path& p) { return fs::is_regular_file(p / "plans.json") && fs::is_regular_file(p / "dataset.json"); }

std::vector<fs::path> sorted_subfolders(const fs::path& folder) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_directory()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> nnunet_part_folders(const std::string& folder) {
  if (is_results_folder(folder)) return {};
  std::vector<std::string> parts;
  for (const auto& task : sorted_subfolders(folder)) {
    if (is_results_folder(task)) {
      parts.push_back(task.string());
      continue;
    }
    for (const auto& trainer : sorted_subfolders(task)) {
      if (is_results_folder(trainer)) parts.push_back(trainer.string());
    }
  }
  return parts;
}

LoadedModel import_nnunet_parts(const std::vector<std::string>& folders, const NnunetImportOptions& options) {
  if (folders.empty()) fail("no nnU-Net results folders to import as parts");
  LoadedModel m;
  Plan combined;
  std::vector<std::string> names{"background"};
  for (const auto& folder : folders) {
    NnunetImportOptions o = options;
    o.folder = folder;
    LoadedModel part = import_nnunet_model(o);
    const Plan& plan = part.info.plan;
    if (!plan.regions.empty()) fail("{}: a region-based model cannot be a part of a multi-part model", folder);
    for (size_t c = 1; c < plan.class_names.size(); ++c) {
      if (std::find(names.begin(), names.end(), plan.class_names[c]) != names.end()) {
        fail("{}: class '{}' is also a class of an earlier part; the parts' classes must differ", folder, plan.class_names[c]);
      }
      names.push_back(plan.class_names[c]);
    }
    if (m.parts.empty()) combined = plan;
    m.parts.push_back(std::move(part));
  }
  combined.class_names = names;
  combined.network.out_channels = static_cast<int64_t>(names.size());  // the combined map's; each part runs its own network
  m.info.plan = resolved(combined);
  m.info.provenance = {{"imported_from", "nnU-Net"}, {"parts", folders}, {"fold", options.fold}, {"checkpoint", options.checkpoint}};
  m.net = m.parts[0].net;
  return m;
}

}  // namespace repux
