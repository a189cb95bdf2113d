#pragma once
// The whole segmentation network, created by name from a config that also travels inside model files:
// a ConvNet encoder (RepUX-Net or 3D UX-Net) with the UNETR-style decoder (MONAI UNETR blocks), or
// nnU-Net's residual-encoder U-Net (ResEnc M) as the baseline they are compared with.
#include "repux/enum_names.h"
#include "repux/nn/encoder.h"
#include "repux/nn/resenc_unet.h"
#include "repux/nn/unetr_blocks.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace repux {

class BatchStatReducer;

// The registry of architectures: a new one is a value here, a row in its name table and a case in
// the network's constructor (its encoder blocks) and in NetworkConfig::resolved (its defaults).
enum class Arch { RepUxNet, UxNet, ResEnc };
template <>
struct EnumNames<Arch> {
  static constexpr const char* what = "architecture";
  static constexpr std::pair<Arch, const char*> table[] = {{Arch::RepUxNet, "repuxnet"}, {Arch::UxNet, "uxnet"}, {Arch::ResEnc, "resenc"}};
};

struct NetworkConfig {
  Arch arch = Arch::RepUxNet;
  int64_t in_channels = 1;
  int64_t out_channels = 14;
  // Stage widths and blocks per stage; empty: 48 96 192 384 and 2 2 2 2 (repuxnet, uxnet: four stages),
  // 32 64 128 256 320 and 1 3 4 6 6 (resenc: ResEnc M, five stages).
  std::vector<int64_t> dims;
  std::vector<int64_t> depths;
  std::vector<int64_t> kernel_sizes;  // empty: 21 per stage for repuxnet, 7 for uxnet; none for resenc (3x3x3)
  int64_t hidden_size = 768;          // the UNETR decoder's bottleneck (repuxnet, uxnet)
  std::optional<Reparam> reparam;     // none: bfr for repuxnet, none for uxnet and resenc
  double bfr_alpha = 1.0;
  int64_t small_kernel_size = 5;
  LkImpl conv_impl = LkImpl::Auto;

  // Fills the per-architecture defaults and checks every value; throws naming the bad one.
  NetworkConfig resolved() const;
  // The encoder's attribute name in official checkpoints: "repuxnet_3d" or "uxnet_3d" ("resenc" for
  // resenc, which has no official checkpoints).
  std::string encoder_prefix() const;
};

nlohmann::json to_json(const NetworkConfig& config);
NetworkConfig network_config_from_json(const nlohmann::json& j);

struct SegmenterImpl : torch::nn::Module {
  explicit SegmenterImpl(const NetworkConfig& config);
  // x: [N, in_channels, D, H, W] with D, H, W multiples of 16; returns [N, out_channels, D, H, W] logits.
  torch::Tensor forward(const torch::Tensor& x);
  // The encoder's stage outputs, finest first (repuxnet, uxnet: 4 at 1/2 to 1/16 resolution; resenc: 5
  // at 1/1 to 1/16): the feature maps whose effective receptive field `repux erf` measures.
  std::vector<torch::Tensor> encoder_stages(const torch::Tensor& x);
  // Folds every large-kernel re-parameterization into plain kernels (for inference and export).
  void deploy();
  // Replaces the output head for another number of classes (fine-tuning, e.g. FLARE -> AMOS).
  void replace_head(int64_t out_channels);
  // Data-parallel training: BatchNorm statistics reduced over every process by `reducer` (nullptr:
  // local again). Returns how many BatchNorm layers were switched (0 for 3D UX-Net, which has none).
  int synchronize_batch_norm(BatchStatReducer* reducer);

  NetworkConfig config;
  ResEncUNet resenc{nullptr};  // resenc: the whole network; the UNETR-style members below stay empty
  Encoder encoder{nullptr};
  UnetrBasicBlock encoder1{nullptr}, encoder2{nullptr}, encoder3{nullptr}, encoder4{nullptr}, encoder5{nullptr};
  UnetrUpBlock decoder5{nullptr}, decoder4{nullptr}, decoder3{nullptr}, decoder2{nullptr};
  UnetrBasicBlock decoder1{nullptr};
  UnetOutBlock out{nullptr};
};
TORCH_MODULE(Segmenter);

Segmenter create_network(const NetworkConfig& config);

// Every large-kernel conv of the network, with its state-dict prefix (e.g. "repuxnet_3d.stages.0.0.dwconv").
std::vector<std::pair<std::string, LargeKernelConv>> large_kernel_convs(Segmenter& net);

int64_t parameter_count(const torch::nn::Module& module);

}  // namespace repux
