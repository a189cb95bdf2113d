#include "repux/model/plan.h"

#include "repux/data/labels.h"
#include "repux/error.h"
#include "repux/io/json_file.h"

namespace repux {
namespace {

[[noreturn]] void fail_field(const std::string& field, const std::string& problem) {
  throw PlanFieldError(field, fmt::format("plan field '{}': {}", field, problem));
}

// Runs `read`, turning any JSON or repux error into one naming `field`.
template <typename F>
auto in_field(const std::string& field, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const nlohmann::json::exception& e) {
    fail_field(field, first_line(e.what()));
  } catch (const PlanFieldError&) {
    throw;  // already names its (inner) field
  } catch (const Error& e) {
    fail_field(field, e.what());
  }
}

// Each size a multiple of the network's multiple for its axis (`multiple`, in the volume's axes), up to 512.
void check_size(const std::string& field, const std::array<int64_t, 3>& size, const std::array<int64_t, 3>& multiple) {
  for (int a = 0; a < 3; ++a) {
    const int64_t s = size[a], m = multiple[a];
    if (s < m || s > 512 || s % m != 0) fail_field(field, fmt::format("{} is out of range, expected a multiple of {} from {} to 512", s, m, m));
  }
}

// The network's input multiple in the volume's axes.
std::array<int64_t, 3> volume_multiple(const Plan& p) {
  const auto network = input_multiple(p.network);
  std::array<int64_t, 3> m{};
  for (int n = 0; n < 3; ++n) m[p.network_axes[n]] = network[n];
  return m;
}

void check_network_axes(const std::array<int64_t, 3>& axes) {
  std::array<bool, 3> seen{};
  for (int64_t a : axes) {
    if (a < 0 || a > 2 || seen[a]) fail_field("network_axes", fmt::format("[{}, {}, {}] is not a permutation of 0, 1, 2", axes[0], axes[1], axes[2]));
    seen[a] = true;
  }
}

void check_inference(const InferenceSettings& s, const std::array<int64_t, 3>& multiple) {
  check_size("inference.window", *s.window, multiple);
  if (!(s.overlap >= 0 && s.overlap < 1)) fail_field("inference.overlap", fmt::format("{} is out of range, expected [0, 1)", s.overlap));
  if (!(s.window_growth >= 1 && s.window_growth <= 64)) {
    fail_field("inference.window_growth", fmt::format("{} is out of range, expected 1 to 64", s.window_growth));
  }
  for (int64_t a : s.mirror_axes) {
    if (a < 0 || a > 2) fail_field("inference.mirror_axes", fmt::format("{} is not an axis, expected 0, 1 or 2", a));
  }
}

nlohmann::json to_json(const InferenceSettings& s) {
  nlohmann::json j = {{"window", *s.window}, {"overlap", s.overlap}, {"blending", enum_name(s.blending)}, {"mirror_axes", s.mirror_axes}, {"window_growth", s.window_growth}};
  if (s.accumulation != Accumulation::Float32) j["accumulation"] = enum_name(s.accumulation);
  return j;
}

InferenceSettings inference_from_json(const nlohmann::json& j) {
  in_field("inference", [&] { check_known_keys(j, {"window", "overlap", "blending", "mirror_axes", "window_growth", "accumulation"}, "the inference settings"); return 0; });
  InferenceSettings s;
  if (j.contains("window") && !j["window"].is_null()) {
    s.window = in_field("inference.window", [&] { return j["window"].get<std::array<int64_t, 3>>(); });
  }
  s.overlap = in_field("inference.overlap", [&] { return j.value("overlap", s.overlap); });
  if (j.contains("blending")) {
    s.blending = in_field("inference.blending", [&] { return enum_from_name<Blending>(j["blending"].get<std::string>()); });
  }
  s.mirror_axes = in_field("inference.mirror_axes", [&] { return j.value("mirror_axes", s.mirror_axes); });
  s.window_growth = in_field("inference.window_growth", [&] { return j.value("window_growth", s.window_growth); });
  if (j.contains("accumulation")) {
    s.accumulation = in_field("inference.accumulation", [&] { return enum_from_name<Accumulation>(j["accumulation"].get<std::string>()); });
  }
  return s;
}

// Class names (defaults filled in): one per output, or with regions background and one per region.
void check_classes(Plan& p) {
  if (!p.regions.empty()) {
    in_field("regions", [&] { check_label_regions(p.regions, "regions"); return 0; });
    if (p.network.out_channels != p.regions.size()) {
      fail_field("regions", fmt::format("{} regions for {} network outputs (network.out_channels)", p.regions.size(), p.network.out_channels));
    }
    if (p.class_names.empty()) p.class_names = p.regions.names_with_background();
  }
  const int64_t names = p.network.out_channels + (p.regions.empty() ? 0 : 1);
  if (p.class_names.empty()) p.class_names = default_class_names(names);
  if (static_cast<int64_t>(p.class_names.size()) != names) {
    fail_field("class_names", fmt::format("{} names for {} classes (network.out_channels{})", p.class_names.size(), names,
                                          p.regions.empty() ? "" : " regions and background"));
  }
}

}  // namespace

int64_t label_classes(const Plan& plan) { return plan.regions.empty() ? plan.network.out_channels : plan.regions.label_classes(); }

std::vector<std::string> label_value_names(const Plan& plan) {
  return plan.regions.empty() ? plan.class_names : plan.regions.label_value_names();
}

Plan resolved(const Plan& plan) {
  Plan p = plan;
  p.network = in_field("network", [&] { return plan.network.resolved(); });
  in_field("preprocessing", [&] { check_preprocess_recipe(p.preprocessing); return 0; });
  check_network_axes(p.network_axes);
  const auto multiple = volume_multiple(p);
  check_size("patch", p.patch, multiple);
  check_classes(p);
  if (!p.inference.window) p.inference.window = p.patch;
  check_inference(p.inference, multiple);
  in_field("postprocessing", [&] { check_postprocessing(p.postprocessing, label_classes(p)); return 0; });
  return p;
}

nlohmann::json to_json(const Plan& plan) {
  const Plan p = resolved(plan);
  nlohmann::json j = {{"network", to_json(p.network)},
          {"preprocessing", to_json(p.preprocessing)},
          {"patch", p.patch},
          {"class_names", p.class_names},
          {"inference", to_json(p.inference)},
          {"postprocessing", to_json(p.postprocessing)}};
  if (!p.regions.empty()) j["regions"] = to_json(p.regions);
  if (p.network_axes != std::array<int64_t, 3>{0, 1, 2}) j["network_axes"] = p.network_axes;
  j["training"] = to_json(p.training);
  return j;
}

Plan plan_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("plan: expected a JSON object, got {}", j.type_name());
  check_known_keys(j, {"network", "preprocessing", "patch", "class_names", "regions", "inference", "postprocessing", "network_axes", "training"}, "the plan");
  Plan p;
  p.network = in_field("network", [&] { return network_config_from_json(j.at("network")); });
  if (j.contains("preprocessing")) {
    p.preprocessing = in_field("preprocessing", [&] { return preprocess_recipe_from_json(j["preprocessing"]); });
  }
  if (j.contains("patch")) p.patch = in_field("patch", [&] { return j["patch"].get<std::array<int64_t, 3>>(); });
  p.class_names = in_field("class_names", [&] { return j.value("class_names", p.class_names); });
  if (j.contains("inference")) {
    if (!j["inference"].is_object()) fail_field("inference", "expected a JSON object");
    p.inference = inference_from_json(j["inference"]);
  }
  if (j.contains("network_axes")) p.network_axes = in_field("network_axes", [&] { return j["network_axes"].get<std::array<int64_t, 3>>(); });
  if (j.contains("regions")) p.regions = in_field("regions", [&] { return label_regions_from_json(j["regions"], "regions"); });
  if (j.contains("training")) p.training = in_field("training", [&] { return training_recipe_from_json(j["training"]); });
  if (j.contains("postprocessing")) {
    p.postprocessing = in_field("postprocessing", [&] { return postprocessing_from_json(j["postprocessing"], label_classes(p)); });
  }
  return resolved(p);
}

InferenceSettings inference_settings(const Plan& plan, const InferenceOverrides& user) {
  return merge(resolved(plan).inference, user);
}

}  // namespace repux
