#include "repux/nn/unetr_segmenter.h"

#include "repux/error.h"

#include <fmt/format.h>

namespace repux {
namespace {

void resolve_large_kernel_net(NetworkConfig& c, bool rep) {
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

// The encoder's attribute name in the official checkpoints: repuxnet_3d or uxnet_3d.
std::string encoder_name(const NetworkConfig& c) { return c.arch + "_3d"; }

void check_stored(const NetworkConfig& c, const StoredShapes& t) {
  const std::string p = encoder_name(c);
  t.expect(p + ".downsample_layers.0.0.weight", 0, c.dims[0], "dims[0] =");
  t.expect(p + ".downsample_layers.0.0.weight", 1, c.in_channels, "in_channels =");
  for (size_t i = 1; i < 4; ++i) t.expect(fmt::format("{}.downsample_layers.{}.1.weight", p, i), 0, c.dims[i], "a stage width of");
  for (size_t i = 0; i < 4; ++i) {
    const std::string stage = fmt::format("{}.stages.{}", p, i);
    t.expect_stage(stage, c.depths[i], "dwconv.weight", c.dims[i]);
    t.expect(fmt::format("{}.{}.dwconv.weight", stage, c.depths[i] - 1), 2, c.kernel_sizes[i], "a kernel size of");
  }
  t.expect("encoder5.layer.conv1.conv.weight", 0, c.hidden_size, "hidden_size =");
  t.expect("out.conv.conv.weight", 0, c.out_channels, "out_channels =");
}

// An official checkpoint's sizes, read from the same tensors check_stored compares.
void infer_stored(NetworkConfig& c, const StoredShapes& t) {
  const std::string p = encoder_name(c);
  c.in_channels = t.size(p + ".downsample_layers.0.0.weight", 1);
  c.dims = {t.size(p + ".downsample_layers.0.0.weight", 0)};
  for (size_t i = 1; i < 4; ++i) c.dims.push_back(t.size(fmt::format("{}.downsample_layers.{}.1.weight", p, i), 0));
  c.depths.clear();
  c.kernel_sizes.clear();
  for (size_t i = 0; i < 4; ++i) {
    const std::string stage = fmt::format("{}.stages.{}", p, i);
    c.depths.push_back(t.blocks(stage, "dwconv.weight"));
    c.kernel_sizes.push_back(t.size(stage + ".0.dwconv.weight", 2));
  }
  c.hidden_size = t.size("encoder5.layer.conv1.conv.weight", 0);
  c.out_channels = t.size("out.conv.conv.weight", 0);
}

NetworkFamily large_kernel_family(const std::string& name, const std::string& summary, bool rep) {
  NetworkFamily f;
  f.name = name;
  f.summary = summary;
  f.fields = {"dims", "depths", "kernel_sizes", "hidden_size", "reparam", "bfr_alpha", "small_kernel_size", "conv_impl", "deep_heads"};
  f.resolve = [rep](NetworkConfig& c) { resolve_large_kernel_net(c, rep); };
  f.build = [](const NetworkConfig& c) { return make_segmenter<UnetrSegmenterImpl>(c); };
  f.check_stored = check_stored;
  f.official_prefix = name + "_3d";
  f.infer_stored = infer_stored;
  return f;
}

}  // namespace

UnetrSegmenterImpl::UnetrSegmenterImpl(const NetworkConfig& cfg) : SegmenterImpl(cfg) {
  EncoderOptions eo;
  eo.block = config.arch == "repuxnet" ? BlockKind::RepUx : BlockKind::Ux;
  eo.in_channels = config.in_channels;
  eo.dims = config.dims;
  eo.depths = config.depths;
  eo.kernel_sizes = config.kernel_sizes;
  eo.reparam = config.reparam.value_or(Reparam::None);
  eo.bfr_alpha = config.bfr_alpha;
  eo.small_kernel_size = config.small_kernel_size;
  eo.impl = config.conv_impl;
  encoder = register_module(encoder_name(config), Encoder(eo));
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
  if (config.deep_heads) deep_heads = register_module("deep_heads", DeepHeads(std::vector<int64_t>{d[1], d[2], d[3]}, config.out_channels));
}

std::vector<torch::Tensor> UnetrSegmenterImpl::decode(const torch::Tensor& x) {
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
  return {decoder1(dec0), dec1, dec2, dec3};
}

torch::Tensor UnetrSegmenterImpl::run(const torch::Tensor& x) { return out(decode(x).front()); }

std::vector<torch::Tensor> UnetrSegmenterImpl::run_deep(const torch::Tensor& x) {
  const auto stages = decode(x);
  std::vector<torch::Tensor> outputs{out(stages[0])};
  if (!deep_heads) return outputs;
  for (auto& o : deep_heads(std::vector<torch::Tensor>(stages.begin() + 1, stages.end()))) outputs.push_back(std::move(o));
  return outputs;
}

std::vector<torch::Tensor> UnetrSegmenterImpl::encoder_stages(const torch::Tensor& x) { return encoder(x); }

void UnetrSegmenterImpl::replace_output_head(int64_t out_channels) {
  auto device = out->conv->conv->weight.device();
  out = replace_module("out", UnetOutBlock(config.dims[0], out_channels));
  out->to(device);
  if (deep_heads) deep_heads = replace_module("deep_heads", DeepHeads(deep_heads->for_classes(out_channels)));
}

NetworkFamily repuxnet_family() {
  return large_kernel_family("repuxnet", "RepUX-Net: 21^3 depthwise kernels trained with BFR, UNETR-style decoder", true);
}

NetworkFamily uxnet_family() { return large_kernel_family("uxnet", "3D UX-Net: 7^3 depthwise kernels, UNETR-style decoder", false); }

}  // namespace repux
