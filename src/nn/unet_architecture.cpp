#include "repux/nn/unet_architecture.h"

#include "repux/error.h"
#include "repux/io/json_file.h"

namespace repux {
namespace {

void check_per_stage(size_t count, int64_t stages, const char* field) {
  if (static_cast<int64_t>(count) != stages) fail("U-Net field '{}': {} entries, expected one per stage ({})", field, count, stages);
}

void check_positive(const std::vector<int64_t>& values, const char* field) {
  for (int64_t v : values) {
    if (v < 1) fail("U-Net field '{}': {} is not positive", field, v);
  }
}

}  // namespace

Triple UNetArchitecture::input_multiple() const {
  Triple m{1, 1, 1};
  for (const auto& s : strides) {
    for (int a = 0; a < 3; ++a) m[a] *= s[a];
  }
  return m;
}

void check_unet_architecture(const UNetArchitecture& a) {
  const int64_t n = a.stages();
  if (n < 1 || n > 12) fail("U-Net field 'features_per_stage': {} stages, expected 1 to 12", n);
  check_positive(a.features, "features_per_stage");
  check_per_stage(a.kernel_sizes.size(), n, "kernel_sizes");
  check_per_stage(a.strides.size(), n, "strides");
  check_per_stage(a.encoder_convs.size(), n, a.network == UNetClass::PlainConv ? "n_conv_per_stage" : "n_blocks_per_stage");
  if (static_cast<int64_t>(a.decoder_convs.size()) != n - 1) {
    fail("U-Net field 'n_conv_per_stage_decoder': {} entries, expected {} (one per stage but the last)", a.decoder_convs.size(), n - 1);
  }
  check_positive(a.encoder_convs, "n_conv_per_stage");
  check_positive(a.decoder_convs, "n_conv_per_stage_decoder");
  for (int64_t s = 0; s < n; ++s) {
    for (int ax = 0; ax < 3; ++ax) {
      const int64_t k = a.kernel_sizes[s][ax], st = a.strides[s][ax];
      if (k < 1 || k > 15 || k % 2 == 0) fail("U-Net field 'kernel_sizes': stage {} has {}, expected an odd size from 1 to 15", s, k);
      if (st < 1 || st > 8) fail("U-Net field 'strides': stage {} has {}, expected 1 to 8", s, st);
    }
  }
  if (!(a.norm_eps > 0)) fail("U-Net field 'norm_op_kwargs.eps': {} is not positive", a.norm_eps);
  if (!(a.dropout >= 0 && a.dropout < 1)) fail("U-Net field 'dropout_op_kwargs.p': {} is out of range, expected [0, 1)", a.dropout);
  if (a.nonlin_first && a.network != UNetClass::PlainConv) fail("U-Net field 'nonlin_first': only PlainConvUNet has it");
  if (a.stem_channels && (a.network != UNetClass::ResidualEncoder || *a.stem_channels < 1)) {
    fail("U-Net field 'stem_channels': only a positive value, and only for ResidualEncoderUNet");
  }
}

nlohmann::json to_json(const UNetArchitecture& a) {
  nlohmann::json j = {{"network", enum_name(a.network)},
                      {"features_per_stage", a.features},
                      {"kernel_sizes", a.kernel_sizes},
                      {"strides", a.strides},
                      {"encoder_convs", a.encoder_convs},
                      {"decoder_convs", a.decoder_convs},
                      {"conv_bias", a.conv_bias},
                      {"norm", enum_name(a.norm)},
                      {"norm_eps", a.norm_eps},
                      {"norm_momentum", a.norm_momentum},
                      {"norm_affine", a.norm_affine},
                      {"dropout", a.dropout},
                      {"nonlin", enum_name(a.nonlin)},
                      {"negative_slope", a.negative_slope},
                      {"nonlin_first", a.nonlin_first}};
  if (a.stem_channels) j["stem_channels"] = *a.stem_channels;
  return j;
}

UNetArchitecture unet_architecture_from_json(const nlohmann::json& j) {
  check_known_keys(j,
                   {"network", "features_per_stage", "kernel_sizes", "strides", "encoder_convs", "decoder_convs", "conv_bias", "norm",
                    "norm_eps", "norm_momentum", "norm_affine", "dropout", "nonlin", "negative_slope", "nonlin_first", "stem_channels"},
                   "the U-Net architecture");
  UNetArchitecture a;
  a.network = enum_from_name<UNetClass>(field_or<std::string>(j, "network", enum_name(a.network)));
  a.features = field_or(j, "features_per_stage", a.features);
  a.kernel_sizes = field_or(j, "kernel_sizes", a.kernel_sizes);
  a.strides = field_or(j, "strides", a.strides);
  a.encoder_convs = field_or(j, "encoder_convs", a.encoder_convs);
  a.decoder_convs = field_or(j, "decoder_convs", a.decoder_convs);
  a.conv_bias = field_or(j, "conv_bias", a.conv_bias);
  a.norm = enum_from_name<UNetNorm>(field_or<std::string>(j, "norm", enum_name(a.norm)));
  a.norm_eps = field_or(j, "norm_eps", a.norm_eps);
  a.norm_momentum = field_or(j, "norm_momentum", a.norm_momentum);
  a.norm_affine = field_or(j, "norm_affine", a.norm_affine);
  a.dropout = field_or(j, "dropout", a.dropout);
  a.nonlin = enum_from_name<UNetNonlin>(field_or<std::string>(j, "nonlin", enum_name(a.nonlin)));
  a.negative_slope = field_or(j, "negative_slope", a.negative_slope);
  a.nonlin_first = field_or(j, "nonlin_first", a.nonlin_first);
  if (j.contains("stem_channels")) a.stem_channels = field_or<int64_t>(j, "stem_channels", 0);
  check_unet_architecture(a);
  return a;
}

}  // namespace repux
