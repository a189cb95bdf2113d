#pragma once
// The RepUX-Net and 3D UX-Net families: a ConvNet encoder of large depthwise kernels (nn/encoder.h;
// RepUX-Net's trained with Bayesian Frequency Re-parameterization) with the UNETR-style decoder (MONAI
// UNETR blocks, nn/unetr_blocks.h), state-dict names as in the official PyTorch code.
#include "repux/nn/deep_heads.h"
#include "repux/nn/encoder.h"
#include "repux/nn/network_family.h"
#include "repux/nn/unetr_blocks.h"

namespace repux {

struct UnetrSegmenterImpl : SegmenterImpl {
  explicit UnetrSegmenterImpl(const NetworkConfig& config);
  std::vector<torch::Tensor> encoder_stages(const torch::Tensor& x) override;
  bool has_deep_outputs() const override { return config.deep_heads; }

  Encoder encoder{nullptr};
  UnetrBasicBlock encoder1{nullptr}, encoder2{nullptr}, encoder3{nullptr}, encoder4{nullptr}, encoder5{nullptr};
  UnetrUpBlock decoder5{nullptr}, decoder4{nullptr}, decoder3{nullptr}, decoder2{nullptr};
  UnetrBasicBlock decoder1{nullptr};
  UnetOutBlock out{nullptr};
  DeepHeads deep_heads{nullptr};  // config.deep_heads: on the decoder's outputs at 1/2, 1/4 and 1/8

 protected:
  torch::Tensor run(const torch::Tensor& x) override;
  std::vector<torch::Tensor> run_deep(const torch::Tensor& x) override;
  void replace_output_head(int64_t out_channels) override;

 private:
  // The decoder's outputs, finest (the full-resolution features before the head) first.
  std::vector<torch::Tensor> decode(const torch::Tensor& x);
};

NetworkFamily repuxnet_family();
NetworkFamily uxnet_family();

}  // namespace repux
