// `repux erf`: the effective receptive field of a network's encoder stage (repux/eval/erf.h), of a
// trained model or of a network at random initialisation (the untrained ERF is the baseline a trained
// one is compared with). Writes the three-slice picture and a JSON summary beside it.
#include "commands.h"
#include "options.h"

#include "repux/data/preprocess.h"
#include "repux/error.h"
#include "repux/eval/erf.h"
#include "repux/io/atomic_file.h"
#include "repux/io/geometry.h"
#include "repux/io/volume_file.h"
#include "repux/model/model_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace repux::cli {
namespace {

struct ErfArgs {
  std::string model, output, device = "cpu";
  NetworkArgs network;  // without --model: a network at random initialisation
  std::vector<std::string> images;
  int64_t stage = 4, size = 96, samples = 8;
  uint64_t seed = 0;
};

// [C, D, H, W] cut or zero-padded about its centre to size^3.
torch::Tensor centre_cube(const torch::Tensor& t, int64_t size) {
  std::array<int64_t, 3> start{};
  for (int axis = 0; axis < 3; ++axis) start[axis] = (t.size(axis + 1) - size) / 2;  // negative: padded
  return crop_or_pad(t, start, {size, size, size}, 0.0);
}

// The inputs: each image preprocessed as the model's plan says and cut about its centre, or Gaussian
// noise (without images: what RepLKNet's random-init comparison uses).
std::vector<torch::Tensor> erf_inputs(const ErfArgs& a, const PreprocessRecipe* recipe, int64_t channels, const torch::Device& device) {
  std::vector<torch::Tensor> inputs;
  if (!a.images.empty() && !recipe) fail("--image needs --model: images are preprocessed as a model's plan says");
  for (const auto& path : a.images) {
    const PreparedCase prepared = preprocess(read_volume(path), *recipe);
    if (prepared.image.size(0) != channels) fail("{}: {} channel(s), the model takes {}", path, prepared.image.size(0), channels);
    inputs.push_back(centre_cube(prepared.image, a.size).unsqueeze(0));
  }
  torch::manual_seed(a.seed);
  for (int64_t i = 0; a.images.empty() && i < a.samples; ++i) inputs.push_back(torch::randn({1, channels, a.size, a.size, a.size}));
  for (auto& input : inputs) input = input.to(device);
  return inputs;
}

void write_summary(const ErfArgs& a, const ErfSummary& s, const std::string& network, const std::string& path) {
  nlohmann::json j;
  j["network"] = network;
  j["stage"] = a.stage;
  j["input_size"] = a.size;
  j["inputs"] = a.images.empty() ? nlohmann::json(fmt::format("{} Gaussian noise volumes (seed {})", a.samples, a.seed)) : nlohmann::json(a.images);
  for (size_t i = 0; i < kErfRadiusShares.size(); ++i) j["radius_voxels"][fmt::format("{:.0f}%", 100 * kErfRadiusShares[i])] = s.radius[i];
  for (size_t i = 0; i < kErfAreaThresholds.size(); ++i) j["high_contribution_area_ratio"][fmt::format("{:.0f}%", 100 * kErfAreaThresholds[i])] = s.area_ratio[i];
  write_file_atomically(path, j.dump(2) + "\n");
}

void run_erf(const ErfArgs& a) {
  if (a.size < 16 || a.size % 16 != 0) fail("--size {} must be a positive multiple of 16 (the encoder halves it four times)", a.size);
  ensure_writable(a.output);
  const torch::Device device = device_from_name(a.device, "--device");
  torch::manual_seed(a.seed);
  LoadedModel model;
  if (!a.model.empty()) {
    model = load_model(a.model, device);
  } else {
    model.net = create_network(apply_network_args(NetworkConfig{}, a.network));
    model.net->to(device);
    model.net->eval();
  }
  for (auto& p : model.net->parameters()) p.set_requires_grad(false);
  const NetworkConfig& config = model.net->config;
  const auto inputs = erf_inputs(a, a.model.empty() ? nullptr : &model.info.plan.preprocessing, config.in_channels, device);
  Segmenter net = model.net;
  const auto stages = static_cast<int64_t>(config.dims.size());  // one encoder stage per width
  if (a.stage < 1 || a.stage > stages) fail("--stage {} is not a stage of {} (1 to {})", a.stage, config.arch, stages);
  const int64_t stage = a.stage;
  StageErf erf = encoder_stage_erf(net, static_cast<size_t>(stage - 1), inputs);
  erf.map = erf.map.to(torch::kCPU);
  const ErfSummary s = summarize_erf(erf.map, erf.centre);
  const std::string network = a.model.empty() ? fmt::format("{} at random initialisation (seed {})", config.arch, a.seed) : a.model;
  write_erf_png(erf.map, erf.centre, a.output, fmt::format("ERF of stage {} of {}", a.stage, std::filesystem::path(network).filename().string()));
  const std::string json = (std::filesystem::path(a.output).replace_extension(".json")).string();
  write_summary(a, s, network, json);
  fmt::print("ERF of stage {} of {}, {} input(s) of {}^3\n", a.stage, network, inputs.size(), a.size);
  fmt::print("radius holding 20/50/90% of the contribution: {} / {} / {} voxels\n", s.radius[0], s.radius[1], s.radius[2]);
  fmt::print("high-contribution area ratio at 20/30/50/99%: {:.4f} / {:.4f} / {:.4f} / {:.4f}\n", s.area_ratio[0], s.area_ratio[1],
             s.area_ratio[2], s.area_ratio[3]);
  fmt::print("wrote {} and {}\n", a.output, json);
}

}  // namespace

void add_erf_command(CLI::App& app) {
  auto ea = std::make_shared<ErfArgs>();
  auto* e = app.add_subcommand("erf", "Effective receptive field of an encoder stage: three log-scaled slices (PNG) and a JSON summary");
  e->add_option("-m,--model", ea->model, "repux model file (without it: the network given by --arch, --kernel-sizes, ... at random initialisation)");
  e->add_option("--device", ea->device, "cpu, cuda or cuda:N")->capture_default_str();
  e->add_option("-i,--image,--input", ea->images, "Images (preprocessed as the model's plan says, cut about their centre); without: Gaussian noise");
  e->add_option("-o,--output", ea->output, "PNG to write (the summary goes beside it, .json)")->required();
  e->add_option("--stage", ea->stage, "Encoder stage whose centre voxel is followed (repuxnet, uxnet: 1 at 1/2 resolution ... 4 at 1/16; resenc: 1 at full resolution ... 5 at 1/16)")
      ->capture_default_str();
  e->add_option("--size", ea->size, "Input cube side in voxels (a multiple of 16)")->capture_default_str();
  e->add_option("--samples", ea->samples, "Noise inputs averaged when no image is given")->check(CLI::Range(1, 10000))->capture_default_str();
  e->add_option("--seed", ea->seed, "Seed of the random initialisation and of the noise")->capture_default_str();
  bind_network(e, ea->network);
  e->callback([ea] { run_erf(*ea); });
}

}  // namespace repux::cli
