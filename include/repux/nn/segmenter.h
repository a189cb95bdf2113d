#pragma once
// The whole segmentation network: one interface (SegmenterImpl) over the network families, each
// built by name from a NetworkConfig that also travels inside model files (nn/network_family.h holds
// the registry). The families today: RepUX-Net and 3D UX-Net (a ConvNet encoder with the UNETR-style
// decoder, nn/unetr_segmenter.h) and nnU-Net's residual-encoder U-Net (nn/resenc_unet.h).
#include "repux/nn/large_kernel_conv.h"
#include "repux/nn/unet_architecture.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

namespace repux {

class BatchStatReducer;

// One config type for every family; each family fills its defaults and refuses what does not apply.
struct NetworkConfig {
  std::string arch = "repuxnet";  // the family's registered name: repuxnet, uxnet, resenc
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
  std::optional<UNetArchitecture> unet;  // nnunet: the imported plans' architecture (nn/dynamic_unet.h)
  // Heads on the decoder's coarser stages for deep supervision (resenc, repuxnet, uxnet: nn/deep_heads.h);
  // nnunet's networks always have them.
  bool deep_heads = false;

  // Fills the family's defaults and checks every value; throws naming the bad one (an unknown
  // architecture names the registered ones).
  NetworkConfig resolved() const;
};

nlohmann::json to_json(const NetworkConfig& config);
NetworkConfig network_config_from_json(const nlohmann::json& j);

// What every family's network offers the trainer, predict, import/export and `repux erf`.
struct SegmenterImpl : torch::nn::Module {
  explicit SegmenterImpl(const NetworkConfig& config);
  // x: [N, in_channels, D, H, W] with D, H, W multiples of input_multiple(config); returns [N, out_channels, D, H, W] logits.
  torch::Tensor forward(const torch::Tensor& x);
  // Deep supervision: the decoder's outputs, each through its own head, finest first (the first is
  // forward's). Families without heads on their coarser stages return forward's alone.
  std::vector<torch::Tensor> forward_deep(const torch::Tensor& x);
  virtual bool has_deep_outputs() const { return false; }
  // The encoder's stage outputs, finest first (repuxnet, uxnet: 4 at 1/2 to 1/16 resolution; resenc: 5
  // at 1/1 to 1/16): the feature maps whose effective receptive field `repux erf` measures.
  virtual std::vector<torch::Tensor> encoder_stages(const torch::Tensor& x) = 0;
  // Replaces the output head for another number of classes (fine-tuning, e.g. FLARE -> AMOS).
  void replace_head(int64_t out_channels);
  // Folds every large-kernel re-parameterization into plain kernels (for inference and export).
  void deploy();
  // Data-parallel training: BatchNorm statistics reduced over every process by `reducer` (nullptr:
  // local again). Returns how many BatchNorm layers were switched (0 for 3D UX-Net, which has none).
  int synchronize_batch_norm(BatchStatReducer* reducer);

  NetworkConfig config;  // resolved

 protected:
  // The family's network on an input already checked.
  virtual torch::Tensor run(const torch::Tensor& x) = 0;
  virtual std::vector<torch::Tensor> run_deep(const torch::Tensor& x) { return {run(x)}; }
  virtual void replace_output_head(int64_t out_channels) = 0;

 private:
  // [N, in_channels, D, H, W], each size a multiple of input_multiple(config); throws otherwise.
  void check_input(const torch::Tensor& x) const;
  std::array<int64_t, 3> size_multiple_;  // input_multiple(config), looked up once: forward checks every window
};
TORCH_MODULE(Segmenter);

// A family's network behind the interface (a family's NetworkFamily::build returns this).
template <typename Impl>
Segmenter make_segmenter(const NetworkConfig& config) {
  return Segmenter(std::shared_ptr<SegmenterImpl>(std::make_shared<Impl>(config)));
}

// What every input size of the network must be a multiple of, per axis (16 for the networks that
// halve their input four times).
std::array<int64_t, 3> input_multiple(const NetworkConfig& config);

// `config` with outputs for deep supervision: deep_heads set where the family adds heads (resenc,
// repuxnet, uxnet); unchanged where its decoder has its own (nnunet).
NetworkConfig with_deep_outputs(NetworkConfig config);

// The network of `config`'s family (resolved first).
Segmenter create_network(const NetworkConfig& config);

// Every large-kernel conv of the network, with its state-dict prefix (e.g. "repuxnet_3d.stages.0.0.dwconv").
std::vector<std::pair<std::string, LargeKernelConv>> large_kernel_convs(Segmenter& net);

int64_t parameter_count(const torch::nn::Module& module);

}  // namespace repux
