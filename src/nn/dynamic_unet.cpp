#include "repux/nn/dynamic_unet.h"

#include "repux/error.h"

#include <fmt/format.h>

namespace repux {
namespace {

const Triple kOnes{1, 1, 1};

torch::ExpandingArray<3> expanding(const Triple& v) { return torch::ExpandingArray<3>({v[0], v[1], v[2]}); }

Triple same_padding(const Triple& kernel) { return {(kernel[0] - 1) / 2, (kernel[1] - 1) / 2, (kernel[2] - 1) / 2}; }

bool strides(const Triple& s) { return s[0] != 1 || s[1] != 1 || s[2] != 1; }

torch::Tensor apply_nonlin(const torch::Tensor& x, UNetNonlin nonlin, double negative_slope) {
  switch (nonlin) {
    case UNetNonlin::LeakyReLU: return torch::leaky_relu(x, negative_slope);
    case UNetNonlin::ReLU: return torch::relu(x);
    case UNetNonlin::None: break;
  }
  return x;
}

// Any module of a ModuleList run on a tensor.
template <typename Impl>
torch::Tensor run_item(torch::nn::ModuleList& list, size_t i, torch::Tensor x) {
  return list[i]->as<Impl>()->forward(std::move(x));
}

// StackedResidualBlocks: `count` BasicBlockD under `blocks`, the first with `stride`.
struct ResidualStageImpl : torch::nn::Module {
  ResidualStageImpl(const UNetArchitecture& arch, int64_t count, int64_t in, int64_t out, const Triple& kernel, const Triple& stride) {
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t b = 0; b < count; ++b) blocks->push_back(BasicBlockD(arch, b == 0 ? in : out, out, kernel, b == 0 ? stride : kOnes));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (size_t b = 0; b < blocks->size(); ++b) x = run_item<BasicBlockDImpl>(blocks, b, std::move(x));
    return x;
  }
  torch::nn::ModuleList blocks;
};
TORCH_MODULE(ResidualStage);


void resolve_nnunet(NetworkConfig& c) {
  if (!c.unet) fail("the nnunet architecture is built from an nnU-Net plans file: use `repux import` on an nnU-Net results folder");
  if (!c.dims.empty() || !c.depths.empty() || !c.kernel_sizes.empty()) fail("dims, depths and kernel_sizes do not apply to nnunet (its plans give them)");
  if (!c.reparam) c.reparam = Reparam::None;
  if (*c.reparam != Reparam::None) fail("reparam {} does not apply to nnunet (no large kernels)", enum_name(*c.reparam));
  check_unet_architecture(*c.unet);
}

void check_nnunet(const NetworkConfig& c, const StoredShapes& t) {
  const UNetArchitecture& a = *c.unet;
  const std::string first = a.network == UNetClass::PlainConv ? "encoder.stages.0.0.convs.0.conv.weight" : "encoder.stem.convs.0.conv.weight";
  t.expect(first, 1, c.in_channels, "in_channels =");
  for (int64_t s = 0; s < a.stages(); ++s) {
    const std::string key = a.network == UNetClass::PlainConv
                                ? fmt::format("encoder.stages.{}.0.convs.{}.conv.weight", s, a.encoder_convs[s] - 1)
                                : fmt::format("encoder.stages.{}.blocks.{}.conv2.conv.weight", s, a.encoder_convs[s] - 1);
    t.expect(key, 0, a.features[s], "a stage width of");
  }
  t.expect(fmt::format("decoder.seg_layers.{}.weight", a.stages() - 2), 0, c.out_channels, "out_channels =");
}

}  // namespace

ConvNormNonlinImpl::ConvNormNonlinImpl(const UNetArchitecture& arch, int64_t in, int64_t out, const Triple& kernel, const Triple& stride,
                                       bool bias, bool dropout, bool with_nonlin)
    : dropout_p(dropout ? arch.dropout : 0),
      nonlin(with_nonlin ? arch.nonlin : UNetNonlin::None),
      negative_slope(arch.negative_slope),
      nonlin_first(arch.nonlin_first) {
  conv = register_module(
      "conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, expanding(kernel)).stride(expanding(stride)).padding(expanding(same_padding(kernel))).bias(bias)));
  if (arch.norm == UNetNorm::Instance) {
    instance_norm = register_module(
        "norm", torch::nn::InstanceNorm3d(torch::nn::InstanceNorm3dOptions(out).eps(arch.norm_eps).momentum(arch.norm_momentum).affine(arch.norm_affine)));
  } else if (arch.norm == UNetNorm::Batch) {
    batch_norm = register_module(
        "norm", torch::nn::BatchNorm3d(torch::nn::BatchNorm3dOptions(out).eps(arch.norm_eps).momentum(arch.norm_momentum).affine(arch.norm_affine)));
  }
}

torch::Tensor ConvNormNonlinImpl::forward(torch::Tensor x) {
  x = conv(x);
  if (dropout_p > 0 && is_training()) x = torch::feature_dropout(x, dropout_p, /*train=*/true);  // Dropout3d
  auto norm = [this](const torch::Tensor& y) { return instance_norm ? instance_norm(y) : batch_norm ? batch_norm(y) : y; };
  if (nonlin_first) return norm(apply_nonlin(x, nonlin, negative_slope));
  return apply_nonlin(norm(x), nonlin, negative_slope);
}

StackedConvsImpl::StackedConvsImpl(const UNetArchitecture& arch, int64_t count, int64_t in, int64_t out, const Triple& kernel, const Triple& stride) {
  convs = register_module("convs", torch::nn::ModuleList());
  for (int64_t c = 0; c < count; ++c) {
    convs->push_back(ConvNormNonlin(arch, c == 0 ? in : out, out, kernel, c == 0 ? stride : kOnes, arch.conv_bias, true, true));
  }
}

torch::Tensor StackedConvsImpl::forward(torch::Tensor x) {
  for (size_t c = 0; c < convs->size(); ++c) x = run_item<ConvNormNonlinImpl>(convs, c, std::move(x));
  return x;
}

BasicBlockDImpl::BasicBlockDImpl(const UNetArchitecture& arch, int64_t in, int64_t out, const Triple& kernel, const Triple& stride)
    : nonlin(arch.nonlin), negative_slope(arch.negative_slope) {
  conv1 = register_module("conv1", ConvNormNonlin(arch, in, out, kernel, stride, arch.conv_bias, true, true));
  conv2 = register_module("conv2", ConvNormNonlin(arch, out, out, kernel, kOnes, arch.conv_bias, false, false));
  if (!strides(stride) && in == out) return;
  auto skip = register_module("skip", torch::nn::ModuleList());
  if (strides(stride)) {
    pool = torch::nn::AvgPool3d(torch::nn::AvgPool3dOptions(expanding(stride)).stride(expanding(stride)));
    skip->push_back(pool);
  }
  if (in != out) {
    projection = ConvNormNonlin(arch, in, out, kOnes, kOnes, /*bias=*/false, false, false);
    skip->push_back(projection);
  }
}

torch::Tensor BasicBlockDImpl::forward(const torch::Tensor& x) {
  torch::Tensor residual = x;
  if (pool) residual = pool(residual);
  if (projection) residual = projection(residual);
  return apply_nonlin(conv2(conv1(x)) + residual, nonlin, negative_slope);
}

UNetEncoderImpl::UNetEncoderImpl(const UNetArchitecture& a, int64_t in_channels) {
  int64_t in = in_channels;
  if (a.network == UNetClass::ResidualEncoder) {
    const int64_t stem_channels = a.stem_channels.value_or(a.features[0]);
    stem = register_module("stem", StackedConvs(a, 1, in, stem_channels, a.kernel_sizes[0], kOnes));
    in = stem_channels;
  }
  stages = register_module("stages", torch::nn::ModuleList());
  for (int64_t s = 0; s < a.stages(); ++s) {
    if (a.network == UNetClass::PlainConv) {
      // PlainConvEncoder's stage is an nn.Sequential holding one StackedConvBlocks (the ".0." in its keys).
      stages->push_back(torch::nn::ModuleList(StackedConvs(a, a.encoder_convs[s], in, a.features[s], a.kernel_sizes[s], a.strides[s])));
    } else {
      stages->push_back(ResidualStage(a, a.encoder_convs[s], in, a.features[s], a.kernel_sizes[s], a.strides[s]));
    }
    in = a.features[s];
  }
}

std::vector<torch::Tensor> UNetEncoderImpl::forward(torch::Tensor x) {
  if (stem) x = stem(x);
  std::vector<torch::Tensor> skips;
  for (size_t s = 0; s < stages->size(); ++s) {
    if (auto* plain = stages[s]->as<torch::nn::ModuleListImpl>()) {
      x = (*plain)[0]->as<StackedConvsImpl>()->forward(std::move(x));
    } else {
      x = run_item<ResidualStageImpl>(stages, s, std::move(x));
    }
    skips.push_back(x);
  }
  return skips;
}

UNetDecoderImpl::UNetDecoderImpl(const UNetArchitecture& a, int64_t classes) {
  transpconvs = register_module("transpconvs", torch::nn::ModuleList());
  stages = register_module("stages", torch::nn::ModuleList());
  seg_layers = register_module("seg_layers", torch::nn::ModuleList());
  const int64_t n = a.stages();
  for (int64_t s = 1; s < n; ++s) {
    const int64_t below = a.features[n - s], skip = a.features[n - s - 1];
    const Triple& stride = a.strides[n - s];
    transpconvs->push_back(torch::nn::ConvTranspose3d(
        torch::nn::ConvTranspose3dOptions(below, skip, expanding(stride)).stride(expanding(stride)).bias(a.conv_bias)));
    stages->push_back(StackedConvs(a, a.decoder_convs[s - 1], 2 * skip, skip, a.kernel_sizes[n - s - 1], kOnes));
  }
  replace_heads(a, classes);
}

void UNetDecoderImpl::replace_heads(const UNetArchitecture& a, int64_t classes) {
  auto heads = torch::nn::ModuleList();
  const int64_t n = a.stages();
  for (int64_t s = 1; s < n; ++s) heads->push_back(torch::nn::Conv3d(torch::nn::Conv3dOptions(a.features[n - s - 1], classes, 1).bias(true)));
  seg_layers = replace_module("seg_layers", heads);
}

// The stages' head outputs (every stage's, or the last's alone), finest first.
std::vector<torch::Tensor> UNetDecoderImpl::decode(const std::vector<torch::Tensor>& skips, bool every_stage) {
  torch::Tensor x = skips.back();
  std::vector<torch::Tensor> outputs;
  for (size_t s = 0; s < stages->size(); ++s) {
    x = torch::cat({transpconvs[s]->as<torch::nn::ConvTranspose3dImpl>()->forward(x), skips[skips.size() - s - 2]}, 1);
    x = run_item<StackedConvsImpl>(stages, s, std::move(x));
    if (every_stage || s + 1 == stages->size()) outputs.insert(outputs.begin(), seg_layers[s]->as<torch::nn::Conv3dImpl>()->forward(x));
  }
  return outputs;
}

torch::Tensor UNetDecoderImpl::forward(const std::vector<torch::Tensor>& skips) { return decode(skips, false).front(); }

std::vector<torch::Tensor> UNetDecoderImpl::forward_all(const std::vector<torch::Tensor>& skips) { return decode(skips, true); }

DynamicUNetSegmenterImpl::DynamicUNetSegmenterImpl(const NetworkConfig& c) : SegmenterImpl(c) {
  encoder = register_module("encoder", UNetEncoder(*config.unet, config.in_channels));
  decoder = register_module("decoder", UNetDecoder(*config.unet, config.out_channels));
}

NetworkFamily nnunet_family() {
  NetworkFamily f;
  f.name = "nnunet";
  f.summary = "nnU-Net's PlainConvUNet or ResidualEncoderUNet, as an imported nnU-Net plans file describes it";
  f.fields = {"unet"};
  f.resolve = resolve_nnunet;
  f.build = [](const NetworkConfig& c) { return make_segmenter<DynamicUNetSegmenterImpl>(c); };
  f.check_stored = check_nnunet;
  f.input_multiple = [](const NetworkConfig& c) { return c.unet->input_multiple(); };
  return f;
}

}  // namespace repux
