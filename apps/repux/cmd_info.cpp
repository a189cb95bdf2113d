// `repux info PATH`: what a volume (NIfTI, DICOM series or SEG) or a repux model file holds.
#include "commands.h"

#include "options.h"

#include "repux/io/dicom_series.h"
#include "repux/io/geometry.h"
#include "repux/io/nifti.h"
#include "repux/io/volume_file.h"
#include "repux/model/model_file.h"

#include <fmt/ranges.h>

#include <fmt/format.h>

#include <iostream>

namespace repux::cli {
namespace {

void print_volume_info(const std::string& path, const VolumeReadOptions& reading) {
  const Volume v = read_volume(path, reading);
  const auto shape = v.spatial_shape();
  const auto spacing = v.spacing();
  fmt::print("file:        {}\n", path);
  const NiftiDetails* nifti = nifti_details(v);
  if (nifti) fmt::print("format:      NIfTI-{}\n", nifti->version);
  if (const DicomSeriesDetails* dicom = dicom_series_details(v)) {
    fmt::print("format:      DICOM series {} ({}, '{}', {} slices{})\n", dicom->series_uid, dicom->modality, dicom->series_description,
               dicom->sop_instance_uids.size(), dicom->tilt_resampled ? ", gantry tilt resampled" : "");
  }
  if (!v.label_names.empty()) fmt::print("labels:      {}\n", fmt::join(v.label_names, ", "));
  fmt::print("shape:       {} x {} x {}", shape[0], shape[1], shape[2]);
  if (v.data.dim() == 4) fmt::print(" x {} channels", v.data.size(0));
  fmt::print("\nspacing:     {:.6g} x {:.6g} x {:.6g} mm\n", spacing[0], spacing[1], spacing[2]);
  fmt::print("orientation: {}\n", orientation_code(v.affine));
  fmt::print("datatype:    {}", enum_name(v.sample_type));
  if (!v.scaling.is_identity()) fmt::print(" (scaled: slope {:.6g}, intercept {:.6g})", v.scaling.slope, v.scaling.intercept);
  auto finite = v.data.isfinite();
  const int64_t nonfinite = v.data.numel() - finite.sum().item<int64_t>();
  auto values = nonfinite ? v.data.masked_select(finite) : v.data;
  fmt::print("\nintensity:   min {:.6g}, max {:.6g}, mean {:.6g}", values.min().item<double>(),
             values.max().item<double>(), values.to(torch::kFloat64).mean().item<double>());
  if (nonfinite) fmt::print(" ({} NaN/Inf voxels)", nonfinite);
  fmt::print("\n");
  if (nifti) fmt::print("qform/sform: codes {} / {}\n", nifti->qform_code, nifti->sform_code);
  fmt::print("affine:\n");
  auto a = v.affine.accessor<double, 2>();
  for (int r = 0; r < 4; ++r) fmt::print("  [{:12.6f} {:12.6f} {:12.6f} {:12.6f}]\n", a[r][0], a[r][1], a[r][2], a[r][3]);
}

void print_model_info(const std::string& path) {
  const LoadedModel m = load_model(path);
  const Plan& plan = m.info.plan;
  const auto& c = plan.network;
  const auto& window = plan.inference;
  fmt::print("model:         {}\n", path);
  if (c.unet) {
    const UNetArchitecture& u = *c.unet;
    std::vector<std::string> strides;
    for (const auto& st : u.strides) strides.push_back(fmt::format("{}x{}x{}", st[0], st[1], st[2]));
    fmt::print("architecture:  nnunet ({}, widths {}, {} {}, strides {}, {} norm, {})\n", enum_name(u.network), fmt::join(u.features, "/"),
               u.network == UNetClass::PlainConv ? "convs per stage" : "residual blocks", fmt::join(u.encoder_convs, "/"), fmt::join(strides, "/"),
               enum_name(u.norm), enum_name(u.nonlin));
  } else if (c.arch == "resenc") {
    fmt::print("architecture:  resenc (widths {}, residual blocks {}, 3x3x3 convolutions)\n", fmt::join(c.dims, "/"), fmt::join(c.depths, "/"));
  } else {
    fmt::print("architecture:  {} (dims {}, depths {}, kernels {}, hidden {}, re-parameterization {})\n", c.arch,
               fmt::join(c.dims, "/"), fmt::join(c.depths, "/"), fmt::join(c.kernel_sizes, "/"), c.hidden_size, enum_name(*c.reparam));
  }
  fmt::print("parameters:    {}\n", parameter_count(*m.net));
  if (plan.network_axes != std::array<int64_t, 3>{0, 1, 2}) {
    fmt::print("network axes:  {} (volume axis of each network axis; windows are permuted so)\n", fmt::join(plan.network_axes, ", "));
  }
  fmt::print("input:         {} channel(s)\n", c.in_channels);
  if (plan.regions.empty()) {
    fmt::print("classes:       {} ({})\n", c.out_channels, fmt::join(plan.class_names, ", "));
  } else {
    fmt::print("regions:       {} sigmoid outputs {}\n", c.out_channels, to_json(plan.regions).dump());
  }
  fmt::print("preprocessing: {}\n", to_json(plan.preprocessing).dump());
  fmt::print("patch:         {}\n", fmt::join(plan.patch, "x"));
  const std::string growth = window.window_growth == 1 ? "" : fmt::format(" (growing to {}x its voxels)", window.window_growth);
  fmt::print("inference:     window {}{}, overlap {}, {} blending, mirroring over axes [{}]\n", fmt::join(*window.window, "x"), growth,
             window.overlap, enum_name(window.blending), fmt::join(window.mirror_axes, ", "));
  fmt::print("provenance:    {}\n", m.info.provenance.dump());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info",
                                 "Describe a volume (shape, spacing, orientation, datatype, range, affine): NIfTI, a DICOM series or SEG; or a "
                                 "repux model file");
  auto path = std::make_shared<std::string>();
  auto reading = std::make_shared<VolumeReadOptions>(allowing_channels(/*nonfinite_too=*/true));
  cmd->add_option("file,-i,--input", *path, "A .nii/.nii.gz volume, a DICOM folder, DICOMDIR or .dcm file, or a repux model file")->required();
  bind_dicom_reading(cmd, *reading);
  cmd->callback([path, reading] {
    is_volume_path(*path) || is_dicom_folder(*path) ? print_volume_info(*path, *reading) : print_model_info(*path);
  });
}

}  // namespace repux::cli
