#pragma once
// nnU-Net's residual-encoder U-Net ("ResEnc", Isensee et al., "nnU-Net Revisited", MICCAI 2024), the
// baseline the field now compares architectures against. The layout is nnU-Net's ResEnc M for a 96^3
// patch: nnU-Net's planner halves a 96^3 patch while the feature map stays at least 8 voxels (96 -> 48
// -> 24 -> 12 -> 6), which gives five stages of 32, 64, 128, 256 and 320 channels with 1, 3, 4, 6 and 6
// residual blocks, the first at full resolution. Every convolution is 3x3x3 with bias, followed by
// instance norm (affine) and leaky ReLU (0.01). A residual block is nnU-Net's BasicBlockD (ResNet-D):
// conv-norm-act, conv-norm, plus a skip that is average-pooled when the block downsamples (stride 2 in
// its first conv) and projected by a 1x1 conv-norm when the width changes, then leaky ReLU. The decoder:
// per level a 2x transposed conv, concatenation with the encoder stage of that resolution, one
// conv-norm-act; a 1x1 conv gives the logits at full resolution. Deep supervision is not built: the
// trainer optimises the full-resolution output only, as for the other architectures.
#include "repux/nn/deep_heads.h"
#include "repux/nn/network_family.h"
#include "repux/nn/unetr_blocks.h"

#include <torch/torch.h>

#include <vector>

namespace repux {

// conv (kernel, stride, bias) -> instance norm (affine) -> leaky ReLU when `activation`.
struct ConvNormActImpl : torch::nn::Module {
  ConvNormActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, bool activation);
  torch::Tensor forward(const torch::Tensor& x);
  ConvHolder conv{nullptr};
  torch::nn::InstanceNorm3d norm{nullptr};
  bool activation;
};
TORCH_MODULE(ConvNormAct);

// nnU-Net's BasicBlockD.
struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(int64_t in, int64_t out, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  ConvNormAct conv1{nullptr}, conv2{nullptr};
  ConvNormAct projection{nullptr};  // only when the width changes
  int64_t stride;
};
TORCH_MODULE(ResidualBlock);

struct ResEncUNetImpl : torch::nn::Module {
  // `features` and `blocks`: one value per stage; stage 0 at full resolution, each next one at half.
  // `deep_heads`: heads on the coarser decoder stages too (deep supervision).
  ResEncUNetImpl(int64_t in_channels, int64_t classes, const std::vector<int64_t>& features, const std::vector<int64_t>& blocks,
                 bool deep_heads = false);
  // x: [N, in_channels, D, H, W], sizes multiples of 2^(stages - 1); returns the logits at full resolution.
  torch::Tensor forward(const torch::Tensor& x);
  // With deep heads: every decoder stage's logits, finest (forward's) first; else forward's alone.
  std::vector<torch::Tensor> forward_deep(const torch::Tensor& x);
  // Each encoder stage's output, from the finest (full resolution) to the coarsest.
  std::vector<torch::Tensor> encode(const torch::Tensor& x);
  void replace_head(int64_t classes);

  ConvNormAct stem{nullptr};
  torch::nn::ModuleList stages, upsamplings, decoder_stages;
  ConvHolder head{nullptr};
  DeepHeads deep_heads{nullptr};

 private:
  // The decoder stages' outputs, coarsest first (the last is the head's input).
  std::vector<torch::Tensor> decode(const torch::Tensor& x);
};
TORCH_MODULE(ResEncUNet);

// The family's network: the ResEnc U-Net under the name "resenc" (its state-dict prefix).
struct ResEncSegmenterImpl : SegmenterImpl {
  explicit ResEncSegmenterImpl(const NetworkConfig& config);
  std::vector<torch::Tensor> encoder_stages(const torch::Tensor& x) override { return resenc->encode(x); }
  bool has_deep_outputs() const override { return config.deep_heads; }
  ResEncUNet resenc{nullptr};

 protected:
  torch::Tensor run(const torch::Tensor& x) override { return resenc(x); }
  std::vector<torch::Tensor> run_deep(const torch::Tensor& x) override { return resenc->forward_deep(x); }
  void replace_output_head(int64_t out_channels) override { resenc->replace_head(out_channels); }
};

// resenc: ResEnc M for a 96^3 patch; its convolutions are all 3x3x3, and it has no official checkpoints.
NetworkFamily resenc_family();

}  // namespace repux
