#pragma once
// The encoder skeleton shared by 3D UX-Net and RepUX-Net (as the official networks): a strided stem, three
// LayerNorm + 2x2x2 strided conv downsamplings, a stage of blocks at each of four resolutions, and a
// LayerNorm'd copy of each stage's output for the decoder's skip path.
#include "repux/nn/large_kernel_conv.h"
#include "repux/nn/layernorm.h"

#include <torch/torch.h>

#include <vector>

namespace repux {

enum class BlockKind { RepUx, Ux };

struct EncoderOptions {
  BlockKind block = BlockKind::RepUx;
  int64_t in_channels = 1;
  std::vector<int64_t> dims{48, 96, 192, 384};
  std::vector<int64_t> depths{2, 2, 2, 2};
  std::vector<int64_t> kernel_sizes{21, 21, 21, 21};
  Reparam reparam = Reparam::Bfr;
  double bfr_alpha = 1.0;
  int64_t small_kernel_size = 5;
  LkImpl impl = LkImpl::Auto;
};

struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const EncoderOptions& options);
  // The four normalised stage outputs, from the finest (1/2 resolution) to the coarsest (1/16).
  std::vector<torch::Tensor> forward(const torch::Tensor& x);

  torch::nn::ModuleList downsample_layers, stages;
  std::vector<ChannelsFirstLayerNorm> norms;
};
TORCH_MODULE(Encoder);

}  // namespace repux
