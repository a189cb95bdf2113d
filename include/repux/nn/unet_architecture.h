#pragma once
// The architecture of nnU-Net's networks (dynamic_network_architectures' PlainConvUNet and
// ResidualEncoderUNet), field for field as an nnU-Net plans file's `arch_kwargs` give it: any number
// of stages, each with its own width, kernel size and stride (anisotropic ones such as [1, 3, 3] and
// [1, 2, 2] included), convolutions (or residual blocks) per encoder stage and convolutions per
// decoder stage, conv bias, the normalisation with its settings, dropout and the nonlinearity. Axes
// are the network's (the array axes after nnU-Net's transpose_forward). model/nnunet_import.h reads
// it from a plans file; nn/dynamic_unet.h builds the network.
#include "repux/enum_names.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace repux {

enum class UNetClass { PlainConv, ResidualEncoder };
template <>
struct EnumNames<UNetClass> {
  static constexpr const char* what = "U-Net class";
  static constexpr std::pair<UNetClass, const char*> table[] = {{UNetClass::PlainConv, "PlainConvUNet"},
                                                                 {UNetClass::ResidualEncoder, "ResidualEncoderUNet"}};
};

enum class UNetNorm { None, Instance, Batch };
template <>
struct EnumNames<UNetNorm> {
  static constexpr const char* what = "normalisation";
  static constexpr std::pair<UNetNorm, const char*> table[] = {
      {UNetNorm::None, "none"}, {UNetNorm::Instance, "instance"}, {UNetNorm::Batch, "batch"}};
};

enum class UNetNonlin { None, LeakyReLU, ReLU };
template <>
struct EnumNames<UNetNonlin> {
  static constexpr const char* what = "nonlinearity";
  static constexpr std::pair<UNetNonlin, const char*> table[] = {
      {UNetNonlin::None, "none"}, {UNetNonlin::LeakyReLU, "leaky_relu"}, {UNetNonlin::ReLU, "relu"}};
};

using Triple = std::array<int64_t, 3>;

struct UNetArchitecture {
  UNetClass network = UNetClass::PlainConv;
  std::vector<int64_t> features;       // features_per_stage
  std::vector<Triple> kernel_sizes;    // per stage
  std::vector<Triple> strides;         // per stage (the first is usually 1, 1, 1)
  std::vector<int64_t> encoder_convs;  // n_conv_per_stage (PlainConvUNet) or n_blocks_per_stage (ResidualEncoderUNet)
  std::vector<int64_t> decoder_convs;  // n_conv_per_stage_decoder: one per stage but the last
  bool conv_bias = false;
  UNetNorm norm = UNetNorm::Instance;
  double norm_eps = 1e-5;
  double norm_momentum = 0.1;
  bool norm_affine = true;
  double dropout = 0;  // Dropout3d's p after each convolution (training only); 0: none
  UNetNonlin nonlin = UNetNonlin::LeakyReLU;
  double negative_slope = 0.01;
  bool nonlin_first = false;              // conv -> nonlin -> norm (PlainConvUNet only)
  std::optional<int64_t> stem_channels;   // ResidualEncoderUNet's stem; none: features[0]

  int64_t stages() const { return static_cast<int64_t>(features.size()); }
  // The product of the strides per axis: every input size must be a multiple of it.
  Triple input_multiple() const;
};

// Every field against the others (one entry per stage, positive sizes, odd kernels); an error names
// the field.
void check_unet_architecture(const UNetArchitecture& arch);

nlohmann::json to_json(const UNetArchitecture& arch);
UNetArchitecture unet_architecture_from_json(const nlohmann::json& j);

}  // namespace repux
