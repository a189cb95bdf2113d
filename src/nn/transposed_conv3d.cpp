#include "repux/nn/transposed_conv3d.h"

#include "block_product.h"
#include "no_gradient_wanted.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

namespace repux {
namespace {

struct InputShape {
  int64_t channels, depth, height, width;
  int64_t voxels() const { return depth * height * width; }
};

// One item [C, D, H, W] -> [K, 2D, 2H, 2W]. u: [4][2K][C], the weights of offset (a, b) = (ab / 2, ab % 2)
// with rows 2k + c. Work is a block of W voxels of one input row: packed into v [C][W], multiplied for
// each (a, b) into m [2K][W], whose rows 2k and 2k + 1 are interleaved into output row (2z + a, 2y + b)
// of channel k.
template <int W>
void upsample_item(const float* input, const InputShape& in, const float* u, const float* bias, int64_t k_total, float* output) {
  const BlockProduct product = block_product(W);
  const int64_t c_total = in.channels, blocks_per_row = (in.width + W - 1) / W;
  const int64_t out_height = 2 * in.height, out_width = 2 * in.width, out_voxels = 8 * in.voxels();
  at::parallel_for(0, in.depth * in.height * blocks_per_row, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> v(c_total * W), m(2 * k_total * W);
    for (int64_t index = begin; index < end; ++index) {
      const int64_t row = index / blocks_per_row, x0 = (index % blocks_per_row) * W, z = row / in.height, y = row % in.height;
      const int64_t count = std::min<int64_t>(W, in.width - x0);
      for (int64_t i = 0; i < c_total; ++i) {
        float* packed = v.data() + i * W;
        std::copy_n(input + i * in.voxels() + row * in.width + x0, count, packed);
        std::fill(packed + count, packed + W, 0.0f);
      }
      for (int ab = 0; ab < 4; ++ab) {
        product(u + ab * 2 * k_total * c_total, v.data(), m.data(), 2 * k_total, c_total);
        const int64_t out_row = (2 * z + ab / 2) * out_height + 2 * y + ab % 2;
        for (int64_t k = 0; k < k_total; ++k) {
          const float* even = m.data() + 2 * k * W;
          const float* odd = even + W;
          const float add = bias ? bias[k] : 0.0f;
          float* out = output + k * out_voxels + out_row * out_width + 2 * x0;
          for (int64_t q = 0; q < count; ++q) {
            out[2 * q] = even[q] + add;
            out[2 * q + 1] = odd[q] + add;
          }
        }
      }
    }
  });
}

}  // namespace

bool stride2_transposed_conv3d_applies(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  return no_gradient_wanted(input, weight, bias) && input.device().is_cpu() && input.scalar_type() == torch::kFloat32 && input.dim() == 5 && weight.dim() == 5 &&
         weight.device().is_cpu() && weight.scalar_type() == torch::kFloat32 && weight.size(0) == input.size(1) && weight.size(2) == 2 &&
         weight.size(3) == 2 && weight.size(4) == 2 && (!bias.defined() || bias.numel() == weight.size(1));
}

bool stride2_transposed_conv3d_pays(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  constexpr int64_t kMinVoxels = 24 * 24 * 24;
  return stride2_transposed_conv3d_applies(input, weight, bias) && input.size(2) * input.size(3) * input.size(4) >= kMinVoxels;
}

torch::Tensor stride2_transposed_conv3d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(stride2_transposed_conv3d_applies(input, weight.detach(), bias.defined() ? bias.detach() : bias),
              "stride2_transposed_conv3d: expected CPU float32 input [N,C,D,H,W] and weight [C,K,2,2,2], got ", input.sizes(), " and ",
              weight.sizes());
  torch::NoGradGuard no_grad;
  RECORD_FUNCTION("repux::stride2_transposed_conv3d", std::vector<c10::IValue>());
  const InputShape in{input.size(1), input.size(2), input.size(3), input.size(4)};
  const int64_t k_total = weight.size(1);
  // [C, K, a, b, c] -> [a, b, K, c, C]: for each (a, b), rows 2k + c of C weights.
  const auto u = weight.detach().permute({2, 3, 1, 4, 0}).contiguous();
  const auto b = bias.defined() ? bias.detach().contiguous() : torch::Tensor();
  const auto x = input.contiguous();
  auto result = torch::empty({input.size(0), k_total, 2 * in.depth, 2 * in.height, 2 * in.width}, input.options());
  const float* bias_data = b.defined() ? b.data_ptr<float>() : nullptr;
  for (int64_t item = 0; item < input.size(0); ++item) {
    const float* from = x[item].data_ptr<float>();
    float* to = result[item].data_ptr<float>();
    with_block_width(block_width(in.width), [&](auto width) {
      upsample_item<decltype(width)::value>(from, in, u.data_ptr<float>(), bias_data, k_total, to);
    });
  }
  return result;
}

}  // namespace repux
