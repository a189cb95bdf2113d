#include "repux/nn/layernorm.h"

#include "repux/nn/autocast.h"

namespace repux {

ChannelsFirstLayerNormImpl::ChannelsFirstLayerNormImpl(int64_t channels, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor ChannelsFirstLayerNormImpl::forward(const torch::Tensor& input) {
  return normalize_in_float32(input, [&](const torch::Tensor& x) {
    auto mean = x.mean(1, /*keepdim=*/true);
    auto var = (x - mean).pow(2).mean(1, /*keepdim=*/true);
    auto y = (x - mean) / torch::sqrt(var + eps);
    return weight.view({1, -1, 1, 1, 1}) * y + bias.view({1, -1, 1, 1, 1});
  });
}

}  // namespace repux
