#include "repux/nn/encoder.h"

#include "repux/error.h"
#include "repux/nn/blocks.h"
#include "repux/nn/layernorm.h"

namespace repux {

EncoderImpl::EncoderImpl(const EncoderOptions& o) {
  if (o.dims.size() != 4 || o.depths.size() != 4 || o.kernel_sizes.size() != 4) {
    fail("encoder needs 4 dims, depths and kernel sizes, got {}, {} and {}", o.dims.size(), o.depths.size(),
         o.kernel_sizes.size());
  }
  downsample_layers = register_module("downsample_layers", torch::nn::ModuleList());
  stages = register_module("stages", torch::nn::ModuleList());
  downsample_layers->push_back(torch::nn::Sequential(
      torch::nn::Conv3d(torch::nn::Conv3dOptions(o.in_channels, o.dims[0], 7).stride(2).padding(3)),
      ChannelsFirstLayerNorm(o.dims[0], 1e-6)));
  for (int i = 1; i < 4; ++i) {
    downsample_layers->push_back(torch::nn::Sequential(ChannelsFirstLayerNorm(o.dims[i - 1], 1e-6),
                                                       torch::nn::Conv3d(torch::nn::Conv3dOptions(o.dims[i - 1], o.dims[i], 2).stride(2))));
  }
  for (int i = 0; i < 4; ++i) {
    torch::nn::Sequential stage;
    LargeKernelConvOptions conv;
    conv.channels = o.dims[i];
    conv.kernel_size = o.kernel_sizes[i];
    conv.reparam = o.reparam;
    conv.alpha = o.bfr_alpha;
    conv.small_kernel_size = o.small_kernel_size;
    conv.impl = o.impl;
    for (int64_t j = 0; j < o.depths[i]; ++j) {
      if (o.block == BlockKind::RepUx) stage->push_back(RepUxBlock(conv));
      else stage->push_back(UxBlock(conv));
    }
    stages->push_back(stage);
    norms.push_back(register_module("norm" + std::to_string(i), ChannelsFirstLayerNorm(o.dims[i], 1e-6)));
  }
}

std::vector<torch::Tensor> EncoderImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> outs;
  auto h = x;
  for (size_t i = 0; i < 4; ++i) {
    h = downsample_layers[i]->as<torch::nn::Sequential>()->forward(h);
    h = stages[i]->as<torch::nn::Sequential>()->forward(h);
    outs.push_back(norms[i](h));
  }
  return outs;
}

}  // namespace repux
