#pragma once
// Everything one prediction is written as, from one pass: label maps (NIfTI; DICOM SEG or RTSTRUCT,
// which reference the source series), per-structure statistics and a preview. Each file is written
// atomically (a temporary name, then a rename), and what can be refused is refused before any is
// written: a DICOM object for labels without a source series, two outputs on one path.
#include "repux/eval/preview.h"
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

struct PredictionOutputs {
  std::vector<std::string> label_files;  // .nii, .nii.gz, or .dcm (a SEG, or an RTSTRUCT: writing.dicom_object)
  std::string rtstruct;                  // an RTSTRUCT besides them (e.g. next to a SEG); empty: none
  std::string statistics;                // .json or .csv (structure_statistics.h); empty: none
  std::string preview;                   // .png (preview.h); empty: none
  VolumeWriteOptions writing;
  PreviewOptions preview_options;
};

// Before any work: each path claimed by its format and its folder writable, no path twice.
void check_prediction_outputs(const PredictionOutputs& outputs);

// Whether writing them reads the image's voxels (statistics, preview); otherwise only its geometry.
bool reads_image_voxels(const PredictionOutputs& outputs);

// Writes them all for `labels` (on `image`'s grid); returns the paths written, in order.
std::vector<std::string> write_prediction_outputs(const Volume& image, const Volume& labels, const PredictionOutputs& outputs);

}  // namespace repux
