#pragma once
// MONAI's UNETR decoder blocks (MONAI 0.9), with MONAI's attribute nesting so that keys such as
// `decoder5.conv_block.conv1.conv.weight` match official checkpoints.
#include "repux/nn/winograd_conv3d.h"

#include <torch/torch.h>

namespace repux {

// LeakyReLU with slope 0.01 (MONAI's and nnU-Net's), shared by the UNETR blocks and ResEnc.
torch::Tensor lrelu(const torch::Tensor& x);

// MONAI's Convolution wrapper: one conv held under the name `conv`. Its 3x3x3 convolutions run by
// Winograd's algorithm on the CPU when no gradient is wanted and it pays (nn/winograd_conv3d.h), with
// the transformed weight kept until the weight changes. A stride other than 1 (ResEnc's downsampling
// convolutions) always runs as a plain convolution.
struct ConvHolderImpl : torch::nn::Module {
  ConvHolderImpl(int64_t in, int64_t out, int64_t kernel, bool bias, bool transposed = false, int64_t stride = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv3d conv{nullptr};
  torch::nn::ConvTranspose3d transposed_conv{nullptr};

 private:
  const WinogradWeight& winograd_weight_now(int tile);
  int64_t stride_;
  WinogradWeight winograd_;
  const void* winograd_source_ = nullptr;  // the weight's storage and version it was computed from
  int64_t winograd_version_ = -1;
};
TORCH_MODULE(ConvHolder);

// conv-IN-LReLU-conv-IN (+ 1x1 conv-IN projection when channels change), add, LReLU.
struct UnetResBlockImpl : torch::nn::Module {
  UnetResBlockImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  ConvHolder conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
};
TORCH_MODULE(UnetResBlock);

// UnetrBasicBlock: one UnetResBlock under the name `layer`.
struct UnetrBasicBlockImpl : torch::nn::Module {
  UnetrBasicBlockImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  UnetResBlock layer{nullptr};
};
TORCH_MODULE(UnetrBasicBlock);

// 2x transposed conv, concatenate (upsampled, skip), UnetResBlock(2*out -> out).
struct UnetrUpBlockImpl : torch::nn::Module {
  UnetrUpBlockImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);
  ConvHolder transp_conv{nullptr};
  UnetResBlock conv_block{nullptr};
};
TORCH_MODULE(UnetrUpBlock);

// 1x1 conv with bias to the class logits, under `conv.conv`.
struct UnetOutBlockImpl : torch::nn::Module {
  UnetOutBlockImpl(int64_t in, int64_t classes);
  torch::Tensor forward(const torch::Tensor& x);
  ConvHolder conv{nullptr};
};
TORCH_MODULE(UnetOutBlock);

}  // namespace repux
