#include "repux/nn/segmenter.h"

#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/nn/blocks.h"
#include "repux/shape_string.h"

namespace repux {

namespace {

// resenc: nnU-Net's ResEnc M for a 96^3 patch (nn/resenc_unet.h); its convolutions are all 3x3x3.
void resolve_resenc(NetworkConfig& c) {
  if (c.dims.empty()) c.dims = {32, 64, 128, 256, 320};
  if (c.depths.empty()) c.depths = {1, 3, 4, 6, 6};
  if (!c.kernel_sizes.empty()) fail("kernel_sizes do not apply to resenc (its convolutions are 3x3x3)");
  if (!c.reparam) c.reparam = Reparam::None;
  if (*c.reparam != Reparam::None) fail("reparam {} does not apply to resenc (no large kernels)", enum_name(*c.reparam));
  // Five stages: the input is halved four times, as the other architectures' (patches: multiples of 16).
  if (c.dims.size() != 5) fail("dims needs 5 values for resenc, got {}", c.dims.size());
  if (c.depths.size() != 5) fail("depths needs 5 values for resenc, got {}", c.depths.size());
}

void resolve_large_kernel_net(NetworkConfig& c) {
  const bool rep = c.arch == Arch::RepUxNet;
  if (c.dims.empty()) c.dims = {48, 96, 192, 384};
  if (c.depths.empty()) c.depths = {2, 2, 2, 2};
  if (c.kernel_sizes.empty()) c.kernel_sizes.assign(4, rep ? 21 : 7);
  if (c.kernel_sizes.size() == 1) c.kernel_sizes.assign(4, c.kernel_sizes[0]);
  if (!c.reparam) c.reparam = rep ? Reparam::Bfr : Reparam::None;
  if (c.dims.size() != 4) fail("dims needs 4 values, got {}", c.dims.size());
  if (c.depths.size() != 4) fail("depths needs 4 values, got {}", c.depths.size());
  if (c.kernel_sizes.size() != 4) fail("kernel_sizes needs 1 or 4 values, got {}", c.kernel_sizes.size());
  for (auto k : c.kernel_sizes) {
    if (k < 1 || k % 2 == 0) fail("kernel size {} must be odd and positive", k);
  }
}

}  // namespace

NetworkConfig NetworkConfig::resolved() const {
  NetworkConfig c = *this;
  if (c.arch == Arch::ResEnc) resolve_resenc(c);
  else resolve_large_kernel_net(c);
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

std::string NetworkConfig::encoder_prefix() const { return arch == Arch::ResEnc ? "resenc" : enum_name(arch) + "_3d"; }

nlohmann::json to_json(const NetworkConfig& config) {
  const NetworkConfig c = config.resolved();
  return {{"arch", enum_name(c.arch)},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"dims", c.dims},
          {"depths", c.depths},
          {"kernel_sizes", c.kernel_sizes},
          {"hidden_size", c.hidden_size},
          {"reparam", enum_name(*c.reparam)},
          {"bfr_alpha", c.bfr_alpha},
          {"small_kernel_size", c.small_kernel_size},
          {"conv_impl", enum_name(c.conv_impl)}};
}

NetworkConfig network_config_from_json(const nlohmann::json& j) {
  check_known_keys(j,
                   {"arch", "in_channels", "out_channels", "dims", "depths", "kernel_sizes", "hidden_size", "reparam", "bfr_alpha",
                    "small_kernel_size", "conv_impl"},
                   "the network config");
  NetworkConfig c;
  if (j.contains("arch")) c.arch = enum_from_name<Arch>(field_or<std::string>(j, "arch", ""));
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
  return c.resolved();
}

SegmenterImpl::SegmenterImpl(const NetworkConfig& cfg) : config(cfg.resolved()) {
  if (config.arch == Arch::ResEnc) {
    resenc = register_module("resenc", ResEncUNet(config.in_channels, config.out_channels, config.dims, config.depths));
    return;
  }
  EncoderOptions eo;
  eo.block = config.arch == Arch::RepUxNet ? BlockKind::RepUx : BlockKind::Ux;
  eo.in_channels = config.in_channels;
  eo.dims = config.dims;
  eo.depths = config.depths;
  eo.kernel_sizes = config.kernel_sizes;
  eo.reparam = *config.reparam;
  eo.bfr_alpha = config.bfr_alpha;
  eo.small_kernel_size = config.small_kernel_size;
  eo.impl = config.conv_impl;
  encoder = register_module(config.encoder_prefix(), Encoder(eo));
  const auto& d = config.dims;
  const int64_t in = config.in_channels, hidden = config.hidden_size;
  encoder1 = register_module("encoder1", UnetrBasicBlock(in, d[0]));
  encoder2 = register_module("encoder2", UnetrBasicBlock(d[0], d[1]));
  encoder3 = register_module("encoder3", UnetrBasicBlock(d[1], d[2]));
  encoder4 = register_module("encoder4", UnetrBasicBlock(d[2], d[3]));
  encoder5 = register_module("encoder5", UnetrBasicBlock(d[3], hidden));
  decoder5 = register_module("decoder5", UnetrUpBlock(hidden, d[3]));
  decoder4 = register_module("decoder4", UnetrUpBlock(d[3], d[2]));
  decoder3 = register_module("decoder3", UnetrUpBlock(d[2], d[1]));
  decoder2 = register_module("decoder2", UnetrUpBlock(d[1], d[0]));
  decoder1 = register_module("decoder1", UnetrBasicBlock(d[0], d[0]));
  out = register_module("out", UnetOutBlock(d[0], config.out_channels));
}

torch::Tensor SegmenterImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 5 || x.size(1) != config.in_channels) {
    fail("network input must be [N, {}, D, H, W], got {}", config.in_channels, shape_string(x.sizes()));
  }
  for (int a = 2; a < 5; ++a) {
    if (x.size(a) % 16 != 0) fail("network input size {} is not a multiple of 16 (input {})", x.size(a), shape_string(x.sizes()));
  }
  if (resenc) return resenc(x);
  const auto outs = encoder(x);
  auto enc1 = encoder1(x);
  auto enc2 = encoder2(outs[0]);
  auto enc3 = encoder3(outs[1]);
  auto enc4 = encoder4(outs[2]);
  auto dec4 = encoder5(outs[3]);
  auto dec3 = decoder5(dec4, enc4);
  auto dec2 = decoder4(dec3, enc3);
  auto dec1 = decoder3(dec2, enc2);
  auto dec0 = decoder2(dec1, enc1);
  return out(decoder1(dec0));
}

std::vector<torch::Tensor> SegmenterImpl::encoder_stages(const torch::Tensor& x) { return resenc ? resenc->encode(x) : encoder(x); }

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

void SegmenterImpl::replace_head(int64_t out_channels) {
  if (out_channels < 1) fail("out_channels (classes) must be positive, got {}", out_channels);
  if (resenc) {
    resenc->replace_head(out_channels);
    config.out_channels = out_channels;
    return;
  }
  auto device = out->conv->conv->weight.device();
  config.out_channels = out_channels;
  out = replace_module("out", UnetOutBlock(config.dims[0], out_channels));
  out->to(device);
}

Segmenter create_network(const NetworkConfig& config) { return Segmenter(config); }

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
