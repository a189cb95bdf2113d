// `repux info FILE`: what a NIfTI volume (or a repux model file) holds.
#include "commands.h"

#include "repux/io/geometry.h"
#include "repux/io/nifti.h"
#include "repux/io/paths.h"
#include "repux/nn/model_file.h"

#include <fmt/ranges.h>

#include <fmt/format.h>

#include <iostream>

namespace repux::cli {
namespace {

void print_volume_info(const std::string& path) {
  const Volume v = read_nifti(path, {.allow_channels = true, .allow_nonfinite = true});
  const auto shape = v.spatial_shape();
  const auto spacing = v.spacing();
  fmt::print("file:        {}\n", path);
  fmt::print("format:      NIfTI-{}\n", v.meta.nifti_version);
  fmt::print("shape:       {} x {} x {}", shape[0], shape[1], shape[2]);
  if (v.data.dim() == 4) fmt::print(" x {} channels", v.data.size(0));
  fmt::print("\nspacing:     {:.6g} x {:.6g} x {:.6g} mm\n", spacing[0], spacing[1], spacing[2]);
  fmt::print("orientation: {}\n", orientation_code(v.affine));
  fmt::print("datatype:    {}", nifti_datatype_name(v.meta.datatype));
  if (v.meta.scl_slope != 1.0 || v.meta.scl_inter != 0.0) {
    fmt::print(" (scaled: slope {:.6g}, intercept {:.6g})", v.meta.scl_slope, v.meta.scl_inter);
  }
  auto finite = v.data.isfinite();
  const int64_t nonfinite = v.data.numel() - finite.sum().item<int64_t>();
  auto values = nonfinite ? v.data.masked_select(finite) : v.data;
  fmt::print("\nintensity:   min {:.6g}, max {:.6g}, mean {:.6g}", values.min().item<double>(),
             values.max().item<double>(), values.to(torch::kFloat64).mean().item<double>());
  if (nonfinite) fmt::print(" ({} NaN/Inf voxels)", nonfinite);
  fmt::print("\nqform/sform: codes {} / {}\naffine:\n", v.meta.qform_code, v.meta.sform_code);
  auto a = v.affine.accessor<double, 2>();
  for (int r = 0; r < 4; ++r) fmt::print("  [{:12.6f} {:12.6f} {:12.6f} {:12.6f}]\n", a[r][0], a[r][1], a[r][2], a[r][3]);
}

void print_model_info(const std::string& path) {
  const LoadedModel m = load_model(path);
  const auto& c = m.info.network;
  fmt::print("model:         {}\n", path);
  fmt::print("architecture:  {} (dims {}, depths {}, kernels {}, hidden {}, re-parameterization {})\n", c.arch,
             fmt::join(c.dims, "/"), fmt::join(c.depths, "/"), fmt::join(c.kernel_sizes, "/"), c.hidden_size, c.reparam);
  fmt::print("parameters:    {}\n", parameter_count(*m.net));
  fmt::print("input:         {} channel(s)\n", c.in_channels);
  fmt::print("classes:       {} ({})\n", c.out_channels, fmt::join(m.info.class_names, ", "));
  fmt::print("preprocessing: {}\n", m.info.preprocessing.dump());
  fmt::print("provenance:    {}\n", m.info.provenance.dump());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a NIfTI volume (shape, spacing, orientation, datatype, range, affine) or a repux model file");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "A .nii/.nii.gz volume or a repux model file")->required();
  cmd->callback([path] { is_nifti_path(*path) ? print_volume_info(*path) : print_model_info(*path); });
}

}  // namespace repux::cli
