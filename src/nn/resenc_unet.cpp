#include "repux/nn/resenc_unet.h"

#include "repux/error.h"

#include <fmt/format.h>

#include <algorithm>

namespace repux {
namespace {

void resolve_resenc(NetworkConfig& c) {
  if (c.dims.empty()) c.dims = {32, 64, 128, 256, 320};
  if (c.depths.empty()) c.depths = {1, 3, 4, 6, 6};
  if (!c.kernel_sizes.empty()) fail("kernel_sizes do not apply to resenc (its convolutions are 3x3x3)");
  if (!c.reparam) c.reparam = Reparam::None;
  if (*c.reparam != Reparam::None) fail("reparam {} does not apply to resenc (no large kernels)", enum_name(*c.reparam));
  // Five stages: the input is halved four times, as the other architectures' (patches: multiples of 16).
  if (c.dims.size() != 5) fail("dims needs 5 values for resenc, got {}", c.dims.size());
  if (c.depths.size() != 5) fail("depths needs 5 values for resenc, got {}", c.depths.size());
}

void check_resenc(const NetworkConfig& c, const StoredShapes& t) {
  t.expect("resenc.stem.conv.conv.weight", 1, c.in_channels, "in_channels =");
  for (size_t i = 0; i < c.dims.size(); ++i) t.expect_stage(fmt::format("resenc.stages.{}", i), c.depths[i], "conv2.conv.conv.weight", c.dims[i]);
  if (t.has(fmt::format("resenc.stages.{}.0.conv1.conv.conv.weight", c.dims.size()))) {
    fail("{}: the description says {} stages, but the file holds more", t.path, c.dims.size());
  }
  t.expect("resenc.head.conv.weight", 0, c.out_channels, "out_channels =");
}

}  // namespace

ConvNormActImpl::ConvNormActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, bool activation) : activation(activation) {
  conv = register_module("conv", ConvHolder(in, out, kernel, /*bias=*/true, /*transposed=*/false, stride));
  norm = register_module("norm", torch::nn::InstanceNorm3d(torch::nn::InstanceNorm3dOptions(out).eps(1e-5).affine(true)));
}

torch::Tensor ConvNormActImpl::forward(const torch::Tensor& x) {
  auto y = norm(conv(x));
  return activation ? lrelu(y) : y;
}

ResidualBlockImpl::ResidualBlockImpl(int64_t in, int64_t out, int64_t stride) : stride(stride) {
  conv1 = register_module("conv1", ConvNormAct(in, out, 3, stride, true));
  conv2 = register_module("conv2", ConvNormAct(out, out, 3, 1, false));
  if (in != out) projection = register_module("projection", ConvNormAct(in, out, 1, 1, false));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto skip = stride > 1 ? torch::avg_pool3d(x, stride, stride) : x;
  if (projection) skip = projection(skip);
  return lrelu(conv2(conv1(x)) + skip);
}

ResEncUNetImpl::ResEncUNetImpl(int64_t in_channels, int64_t classes, const std::vector<int64_t>& features, const std::vector<int64_t>& blocks,
                               bool with_deep_heads) {
  const size_t n = features.size();
  if (n < 2 || blocks.size() != n) fail("resenc needs 2 or more stages with one block count each, got {} widths and {} block counts", n, blocks.size());
  stem = register_module("stem", ConvNormAct(in_channels, features[0], 3, 1, true));
  stages = register_module("stages", torch::nn::ModuleList());
  for (size_t s = 0; s < n; ++s) {
    if (blocks[s] < 1) fail("resenc stage {} needs at least one block, got {}", s, blocks[s]);
    torch::nn::Sequential stage;
    const int64_t in = s == 0 ? features[0] : features[s - 1];
    stage->push_back(ResidualBlock(in, features[s], s == 0 ? 1 : 2));
    for (int64_t b = 1; b < blocks[s]; ++b) stage->push_back(ResidualBlock(features[s], features[s], 1));
    stages->push_back(stage);
  }
  upsamplings = register_module("upsamplings", torch::nn::ModuleList());
  decoder_stages = register_module("decoder_stages", torch::nn::ModuleList());
  for (size_t s = n - 1; s > 0; --s) {  // from the coarsest level up
    upsamplings->push_back(torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(features[s], features[s - 1], 2).stride(2)));
    decoder_stages->push_back(ConvNormAct(2 * features[s - 1], features[s - 1], 3, 1, true));
  }
  head = register_module("head", ConvHolder(features[0], classes, 1, /*bias=*/true));
  // The coarser decoder stages output features[n-2] ... features[1] channels; finest first.
  if (with_deep_heads) deep_heads = register_module("deep_heads", DeepHeads(std::vector<int64_t>(features.begin() + 1, features.end() - 1), classes));
}

std::vector<torch::Tensor> ResEncUNetImpl::encode(const torch::Tensor& x) {
  std::vector<torch::Tensor> outs;
  auto h = stem(x);
  for (const auto& stage : *stages) {
    h = stage->as<torch::nn::Sequential>()->forward(h);
    outs.push_back(h);
  }
  return outs;
}

std::vector<torch::Tensor> ResEncUNetImpl::decode(const torch::Tensor& x) {
  const auto skips = encode(x);
  auto h = skips.back();
  std::vector<torch::Tensor> stages_out;
  for (size_t i = 0; i < upsamplings->size(); ++i) {
    const auto& skip = skips[skips.size() - 2 - i];
    h = upsamplings[i]->as<torch::nn::ConvTranspose3d>()->forward(h);
    h = decoder_stages[i]->as<ConvNormAct>()->forward(torch::cat({h, skip}, 1));
    stages_out.push_back(h);
  }
  return stages_out;
}

torch::Tensor ResEncUNetImpl::forward(const torch::Tensor& x) { return head(decode(x).back()); }

std::vector<torch::Tensor> ResEncUNetImpl::forward_deep(const torch::Tensor& x) {
  auto stages_out = decode(x);
  std::vector<torch::Tensor> outputs{head(stages_out.back())};
  if (!deep_heads) return outputs;
  stages_out.pop_back();
  std::reverse(stages_out.begin(), stages_out.end());  // finest first
  for (auto& o : deep_heads(stages_out)) outputs.push_back(std::move(o));
  return outputs;
}

void ResEncUNetImpl::replace_head(int64_t classes) {
  const auto& weight = head->conv->weight;
  const auto device = weight.device();
  head = replace_module("head", ConvHolder(weight.size(1), classes, 1, /*bias=*/true));
  head->to(device);
  if (deep_heads) deep_heads = replace_module("deep_heads", DeepHeads(deep_heads->for_classes(classes)));
}

ResEncSegmenterImpl::ResEncSegmenterImpl(const NetworkConfig& cfg) : SegmenterImpl(cfg) {
  resenc = register_module("resenc", ResEncUNet(config.in_channels, config.out_channels, config.dims, config.depths, config.deep_heads));
}

NetworkFamily resenc_family() {
  NetworkFamily f;
  f.name = "resenc";
  f.summary = "nnU-Net's residual-encoder U-Net (ResEnc M), 3x3x3 convolutions";
  f.fields = {"dims", "depths", "deep_heads"};
  f.resolve = resolve_resenc;
  f.build = [](const NetworkConfig& c) { return make_segmenter<ResEncSegmenterImpl>(c); };
  f.check_stored = check_resenc;
  return f;
}

}  // namespace repux
