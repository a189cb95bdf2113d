// `repux convert`: a volume from one format to another, for users who need files. A DICOM series
// becomes a NIfTI; a DICOM SEG becomes a label NIfTI (on its series' grid with --reference); a label
// NIfTI becomes a SEG (or with --format rtstruct an RTSTRUCT) that references the series given with
// --reference (their grids must agree).
#include "commands.h"
#include "options.h"

#include "repux/error.h"
#include "repux/io/paths.h"
#include "repux/io/volume_file.h"

#include <fmt/format.h>

#include <optional>

namespace repux::cli {
namespace {

struct ConvertArgs {
  std::string input, output, reference;
  VolumeReadOptions reading = allowing_channels();
  VolumeWriteOptions writing;
};

void run_convert(const ConvertArgs& a) {
  refuse_writing_over_inputs({a.input, a.reference}, a.output);
  ensure_writable_volume(a.output);
  std::optional<Volume> reference;
  VolumeReadOptions reading = a.reading;
  if (!a.reference.empty()) {
    reference = read_volume(a.reference, a.reading);
    reading.reference_grid = reference->grid();
  }
  Volume v = read_volume(a.input, reading);
  // A SEG or RTSTRUCT written from these labels references the series' study, slices and frame of reference.
  if (reference) attach_dicom_reference(v, *reference, a.input, a.reference);
  write_volume(v, a.output, a.writing);
  const auto s = v.spatial_shape();
  fmt::print("{}: {} x {} x {}{}\n", a.output, s[0], s[1], s[2], v.label_names.empty() ? "" : fmt::format(", {} labels", v.label_names.size()));
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto ca = std::make_shared<ConvertArgs>();
  auto* c = app.add_subcommand("convert", "Convert a volume: DICOM series -> NIfTI, DICOM SEG <-> label NIfTI (the format follows the names)");
  c->add_option("input,-i,--input", ca->input, "A NIfTI, a DICOM folder/DICOMDIR/.dcm slice, or a DICOM SEG (.dcm)")->required();
  c->add_option("-o,--output", ca->output, "The file to write: .nii/.nii.gz, or .dcm for a DICOM SEG (or RTSTRUCT: --format)")->required();
  c->add_option("--reference", ca->reference,
                "The DICOM series the labels belong to: a SEG is read onto its grid, and a SEG written references it");
  bind_dicom_reading(c, ca->reading);
  c->add_option("--segment-codes", ca->writing.segment_codes_file, "DICOM SEG output: JSON mapping class names to segment codes");
  add_enum_option(c, "--format", ca->writing.dicom_object, "What a .dcm output is: a SEG, or an RTSTRUCT of contours");
  c->callback([ca] { run_convert(*ca); });
}

}  // namespace repux::cli
