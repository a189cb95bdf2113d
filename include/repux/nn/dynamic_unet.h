#pragma once
// nnU-Net's own networks, as dynamic_network_architectures builds them from a plans file:
// PlainConvUNet and ResidualEncoderUNet over a UNetArchitecture (nn/unet_architecture.h). The module
// names are that package's, so an nnU-Net checkpoint's `network_weights` load under their own keys
// (its aliases `all_modules.*` and `decoder.encoder.*` dropped; model/nnunet_import.h):
//   encoder.stages.{s}.0.convs.{c}.{conv,norm}       PlainConvUNet's encoder: stacked conv-norm-nonlin
//   encoder.stem.convs.0.{conv,norm}                 ResidualEncoderUNet's stem, then per stage
//   encoder.stages.{s}.blocks.{b}.{conv1,conv2}      BasicBlockD (ResNet-D): the skip is avg-pooled
//   encoder.stages.{s}.blocks.{b}.skip.{0,1}         when the block strides, projected 1x1 when widths differ
//   decoder.transpconvs.{s}, decoder.stages.{s}.convs.{c}, decoder.seg_layers.{s}
// The decoder runs coarse to fine: a transposed conv (kernel = stride) upsamples, the encoder's skip
// of that resolution is concatenated, stacked convs merge them. Every level has a 1x1 segmentation
// head (deep supervision); inference uses the finest only, the others are loaded and kept for
// fine-tuning.
#include "repux/nn/network_family.h"
#include "repux/nn/unet_architecture.h"

#include <torch/torch.h>

#include <vector>

namespace repux {

// conv -> dropout -> norm -> nonlin (nonlin before norm with nonlin_first): ConvDropoutNormReLU.
struct ConvNormNonlinImpl : torch::nn::Module {
  ConvNormNonlinImpl(const UNetArchitecture& arch, int64_t in, int64_t out, const Triple& kernel, const Triple& stride, bool bias,
                     bool dropout, bool nonlin);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv3d conv{nullptr};
  torch::nn::InstanceNorm3d instance_norm{nullptr};
  torch::nn::BatchNorm3d batch_norm{nullptr};
  double dropout_p = 0;
  UNetNonlin nonlin = UNetNonlin::None;
  double negative_slope = 0.01;
  bool nonlin_first = false;
};
TORCH_MODULE(ConvNormNonlin);

// `count` ConvNormNonlin under `convs`, the first with `stride`: StackedConvBlocks.
struct StackedConvsImpl : torch::nn::Module {
  StackedConvsImpl(const UNetArchitecture& arch, int64_t count, int64_t in, int64_t out, const Triple& kernel, const Triple& stride);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::ModuleList convs;
};
TORCH_MODULE(StackedConvs);

// BasicBlockD: conv1 (stride, dropout, nonlin), conv2 (norm only), plus the skip, then the nonlin.
struct BasicBlockDImpl : torch::nn::Module {
  BasicBlockDImpl(const UNetArchitecture& arch, int64_t in, int64_t out, const Triple& kernel, const Triple& stride);
  torch::Tensor forward(const torch::Tensor& x);
  ConvNormNonlin conv1{nullptr}, conv2{nullptr};
  torch::nn::AvgPool3d pool{nullptr};         // skip.0 when the block strides
  ConvNormNonlin projection{nullptr};         // skip.0 or skip.1 when the widths differ
  UNetNonlin nonlin = UNetNonlin::None;
  double negative_slope = 0.01;
};
TORCH_MODULE(BasicBlockD);

struct UNetEncoderImpl : torch::nn::Module {
  UNetEncoderImpl(const UNetArchitecture& arch, int64_t in_channels);
  // Each stage's output, finest first (the decoder's skips; the last is the bottleneck).
  std::vector<torch::Tensor> forward(torch::Tensor x);
  StackedConvs stem{nullptr};  // ResidualEncoderUNet only
  torch::nn::ModuleList stages;
};
TORCH_MODULE(UNetEncoder);

struct UNetDecoderImpl : torch::nn::Module {
  UNetDecoderImpl(const UNetArchitecture& arch, int64_t classes);
  torch::Tensor forward(const std::vector<torch::Tensor>& skips);
  // Every stage's head output, finest first (nnU-Net's deep supervision order).
  std::vector<torch::Tensor> forward_all(const std::vector<torch::Tensor>& skips);
  void replace_heads(const UNetArchitecture& arch, int64_t classes);
  torch::nn::ModuleList transpconvs, stages, seg_layers;

 private:
  std::vector<torch::Tensor> decode(const std::vector<torch::Tensor>& skips, bool every_stage);
};
TORCH_MODULE(UNetDecoder);

// The family's network: NetworkConfig::unet built as nnU-Net builds it.
struct DynamicUNetSegmenterImpl : SegmenterImpl {
  explicit DynamicUNetSegmenterImpl(const NetworkConfig& config);
  std::vector<torch::Tensor> encoder_stages(const torch::Tensor& x) override { return encoder(x); }
  bool has_deep_outputs() const override { return true; }
  UNetEncoder encoder{nullptr};
  UNetDecoder decoder{nullptr};

 protected:
  torch::Tensor run(const torch::Tensor& x) override { return decoder(encoder(x)); }
  std::vector<torch::Tensor> run_deep(const torch::Tensor& x) override { return decoder->forward_all(encoder(x)); }
  void replace_output_head(int64_t out_channels) override { decoder->replace_heads(*config.unet, out_channels); }
};

// nnunet: PlainConvUNet or ResidualEncoderUNet as an nnU-Net plans file describes it (made by
// `repux import` from an nnU-Net results folder, not from training flags).
NetworkFamily nnunet_family();

}  // namespace repux
