// `repux info FILE`: what a NIfTI volume (or a repux model file) holds.
#include "commands.h"

#include "repux/io/geometry.h"
#include "repux/io/nifti.h"

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

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a NIfTI volume: shape, spacing, orientation, datatype, range, affine");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "A .nii or .nii.gz file")->required();
  cmd->callback([path] { print_volume_info(*path); });
}

}  // namespace repux::cli
