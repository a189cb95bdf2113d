#include "repux/nn/unetr_blocks.h"

namespace repux {
namespace {

torch::Tensor instance_norm(const torch::Tensor& x) {
  return torch::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
}

torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, 0.01); }

// A transposed convolution whose kernel equals its stride writes one disjoint k^3 block per input
// voxel: it is one matrix product [N*D*H*W, C] x [C, O*k^3] and a reshuffle. LibTorch 1.13 runs
// ConvTranspose3d on the CPU with its slow im2col path (no oneDNN); this is 4-5x faster there.
torch::Tensor disjoint_transposed_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const int64_t n = x.size(0), c = x.size(1), d = x.size(2), h = x.size(3), w = x.size(4);
  const int64_t o = weight.size(1), k = weight.size(2);
  auto y = x.permute({0, 2, 3, 4, 1}).reshape({-1, c}).matmul(weight.reshape({c, -1}));  // [NDHW, O k k k]
  y = y.view({n, d, h, w, o, k, k, k}).permute({0, 4, 1, 5, 2, 6, 3, 7}).reshape({n, o, d * k, h * k, w * k});
  return bias.defined() ? y + bias.view({1, -1, 1, 1, 1}) : y;
}

}  // namespace

ConvHolderImpl::ConvHolderImpl(int64_t in, int64_t out, int64_t kernel, bool bias, bool transposed) {
  if (transposed) {
    transposed_conv = register_module("conv", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(in, out, kernel)
                                                                            .stride(kernel)
                                                                            .bias(bias)));
  } else {
    conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel).padding(kernel / 2).bias(bias)));
  }
}

torch::Tensor ConvHolderImpl::forward(const torch::Tensor& x) {
  if (conv) return conv(x);
  if (x.is_cuda()) return transposed_conv(x);  // cuDNN's own kernel is fast
  return disjoint_transposed_conv(x, transposed_conv->weight, transposed_conv->bias);
}

UnetResBlockImpl::UnetResBlockImpl(int64_t in, int64_t out) {
  conv1 = register_module("conv1", ConvHolder(in, out, 3, false));
  conv2 = register_module("conv2", ConvHolder(out, out, 3, false));
  if (in != out) conv3 = register_module("conv3", ConvHolder(in, out, 1, false));
}

torch::Tensor UnetResBlockImpl::forward(const torch::Tensor& x) {
  auto h = instance_norm(conv2(lrelu(instance_norm(conv1(x)))));
  auto residual = conv3 ? instance_norm(conv3(x)) : x;
  return lrelu(h + residual);
}

UnetrBasicBlockImpl::UnetrBasicBlockImpl(int64_t in, int64_t out) { layer = register_module("layer", UnetResBlock(in, out)); }

torch::Tensor UnetrBasicBlockImpl::forward(const torch::Tensor& x) { return layer(x); }

UnetrUpBlockImpl::UnetrUpBlockImpl(int64_t in, int64_t out) {
  transp_conv = register_module("transp_conv", ConvHolder(in, out, 2, false, /*transposed=*/true));
  conv_block = register_module("conv_block", UnetResBlock(2 * out, out));
}

torch::Tensor UnetrUpBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  return conv_block(torch::cat({transp_conv(x), skip}, 1));
}

UnetOutBlockImpl::UnetOutBlockImpl(int64_t in, int64_t classes) { conv = register_module("conv", ConvHolder(in, classes, 1, true)); }

torch::Tensor UnetOutBlockImpl::forward(const torch::Tensor& x) { return conv(x); }

}  // namespace repux
