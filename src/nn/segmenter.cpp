#include "repux/nn/segmenter.h"

#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/nn/blocks.h"
#include "repux/nn/network_family.h"
#include "repux/shape_string.h"

#include <algorithm>

namespace repux {

NetworkConfig NetworkConfig::resolved() const {
  NetworkConfig c = *this;
  const NetworkFamily& family = network_family(c.arch);
  if (c.unet && std::find(family.fields.begin(), family.fields.end(), "unet") == family.fields.end()) {
    fail("a U-Net architecture from nnU-Net plans does not apply to {}", c.arch);
  }
  family.resolve(c);
  if (c.deep_heads && std::find(family.fields.begin(), family.fields.end(), "deep_heads") == family.fields.end()) {
    fail("deep_heads does not apply to {} (its decoder has its own heads, or none)", c.arch);
  }
  for (auto d : c.dims) {
    if (d < 1) fail("dims must be positive, got {}", d);
  }
  for (auto d : c.depths) {
    if (d < 1) fail("depths must be positive, got {}", d);
  }
  if (c.in_channels < 1) fail("in_channels must be positive, got {}", c.in_channels);
  if (c.out_channels < 1) fail("out_channels (classes) must be positive, got {}", c.out_channels);
  if (c.hidden_size < 1) fail("hidden_size must be positive, got {}", c.hidden_size);
  return c;
}

NetworkConfig with_deep_outputs(NetworkConfig config) {
  const auto& fields = network_family(config.arch).fields;
  if (std::find(fields.begin(), fields.end(), "deep_heads") != fields.end()) config.deep_heads = true;
  return config;
}

nlohmann::json to_json(const NetworkConfig& config) {
  const NetworkConfig c = config.resolved();
  nlohmann::json j = {{"arch", c.arch},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"dims", c.dims},
          {"depths", c.depths},
          {"kernel_sizes", c.kernel_sizes},
          {"hidden_size", c.hidden_size},
          {"reparam", enum_name(c.reparam.value_or(Reparam::None))},
          {"bfr_alpha", c.bfr_alpha},
          {"small_kernel_size", c.small_kernel_size},
          {"conv_impl", enum_name(c.conv_impl)}};
  if (c.unet) j["unet"] = to_json(*c.unet);
  if (c.deep_heads) j["deep_heads"] = true;  // only then: files without heads read by any version
  return j;
}

NetworkConfig network_config_from_json(const nlohmann::json& j) {
  check_known_keys(j,
                   {"arch", "in_channels", "out_channels", "dims", "depths", "kernel_sizes", "hidden_size", "reparam", "bfr_alpha",
                    "small_kernel_size", "conv_impl", "unet", "deep_heads"},
                   "the network config");
  NetworkConfig c;
  if (j.contains("arch")) c.arch = field_or<std::string>(j, "arch", "");
  c.in_channels = field_or(j, "in_channels", c.in_channels);
  c.out_channels = field_or(j, "out_channels", c.out_channels);
  c.dims = field_or(j, "dims", c.dims);
  c.depths = field_or(j, "depths", c.depths);
  c.kernel_sizes = field_or(j, "kernel_sizes", c.kernel_sizes);
  c.hidden_size = field_or(j, "hidden_size", c.hidden_size);
  if (const auto reparam = field_or<std::string>(j, "reparam", ""); !reparam.empty()) c.reparam = enum_from_name<Reparam>(reparam);
  c.bfr_alpha = field_or(j, "bfr_alpha", c.bfr_alpha);
  c.small_kernel_size = field_or(j, "small_kernel_size", c.small_kernel_size);
  if (j.contains("conv_impl")) c.conv_impl = enum_from_name<LkImpl>(field_or<std::string>(j, "conv_impl", ""));
  if (j.contains("unet")) c.unet = unet_architecture_from_json(j["unet"]);
  c.deep_heads = field_or(j, "deep_heads", c.deep_heads);
  return c.resolved();
}

SegmenterImpl::SegmenterImpl(const NetworkConfig& c) : config(c.resolved()), size_multiple_(input_multiple(config)) {}

void SegmenterImpl::check_input(const torch::Tensor& x) const {
  if (x.dim() != 5 || x.size(1) != config.in_channels) {
    fail("network input must be [N, {}, D, H, W], got {}", config.in_channels, shape_string(x.sizes()));
  }
  for (int a = 2; a < 5; ++a) {
    if (x.size(a) % size_multiple_[a - 2] != 0) {
      fail("network input size {} is not a multiple of {} (input {})", x.size(a), size_multiple_[a - 2], shape_string(x.sizes()));
    }
  }
}

torch::Tensor SegmenterImpl::forward(const torch::Tensor& x) {
  check_input(x);
  return run(x);
}

std::vector<torch::Tensor> SegmenterImpl::forward_deep(const torch::Tensor& x) {
  check_input(x);
  return run_deep(x);
}

void SegmenterImpl::replace_head(int64_t out_channels) {
  if (out_channels < 1) fail("out_channels (classes) must be positive, got {}", out_channels);
  replace_output_head(out_channels);
  config.out_channels = out_channels;
}

void SegmenterImpl::deploy() {
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<LargeKernelConvImpl>()) conv->deploy();
  }
}

int SegmenterImpl::synchronize_batch_norm(BatchStatReducer* reducer) {
  int switched = 0;
  apply([&](torch::nn::Module& m) {
    if (auto* block = dynamic_cast<RepUxBlockImpl*>(&m)) {
      block->sync_batch_norm_over = reducer;
      ++switched;
    }
  });
  return switched;
}

std::array<int64_t, 3> input_multiple(const NetworkConfig& config) {
  const NetworkFamily& family = network_family(config.arch);
  return family.input_multiple ? family.input_multiple(config) : std::array<int64_t, 3>{16, 16, 16};
}

Segmenter create_network(const NetworkConfig& config) {
  const NetworkConfig c = config.resolved();
  return network_family(c.arch).build(c);
}

std::vector<std::pair<std::string, LargeKernelConv>> large_kernel_convs(Segmenter& net) {
  std::vector<std::pair<std::string, LargeKernelConv>> convs;
  for (const auto& item : net->named_modules("", /*include_self=*/false)) {
    if (auto conv = std::dynamic_pointer_cast<LargeKernelConvImpl>(item.value())) {
      convs.emplace_back(item.key(), LargeKernelConv(conv));
    }
  }
  return convs;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace repux
