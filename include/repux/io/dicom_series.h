#pragma once
// DICOM CT and MR series as volumes, read through DCMTK (dcmdata, with its JPEG, JPEG-LS and RLE
// decoders). Callers outside io/ use read_volume (volume_file.h): a folder, or a DICOMDIR file, is
// a DICOM series.
//
// The rules, chosen to be exact about geometry and to refuse rather than guess:
// - Every file under the folder (recursively, hidden ones skipped) is looked at. Files without DICOM's
//   "DICM" marker at byte 128 are skipped (folders often hold READMEs, thumbnails, .DS_Store); a file
//   with the marker that DCMTK cannot parse is an error naming it.
// - Files are grouped by SeriesInstanceUID. Slices of different frames of reference or studies that
//   share one UID (two scans under one UID) are split into candidates named UID#FrameOfReferenceUID,
//   never merged. VolumeReadOptions::dicom_series picks one; without it the folder must hold exactly
//   one CT or MR image series, else the error lists the candidates.
// - Every attribute that changes a value is read strictly per slice: SamplesPerPixel, Photometric
//   Interpretation, BitsAllocated/Stored, HighBit, PixelRepresentation, RescaleSlope/Intercept,
//   PixelSpacing, ImagePositionPatient and ImageOrientationPatient. Missing (where required),
//   malformed ("abc", NaN, a slope of 0) or inconsistent values (rescale on some slices only, pixel
//   data of another length than the attributes say) are refused naming the file and the attribute.
//   Spacings must lie in 1e-4..1e4 mm and positions within 1e7 mm of the origin.
// - Slices are sorted by their position along the slice normal (ImageOrientationPatient's row x column
//   cosines), never by InstanceNumber or file name. The slice spacing comes from the positions, never
//   from SliceThickness (a single slice, which has none, takes SpacingBetweenSlices or SliceThickness).
// - Refused with a one-line error: slices of different orientation, size or pixel spacing; two slices at
//   one position; a missing slice (a gap of about twice the spacing); spacing that varies by more than
//   1% (or 0.01 mm); positions off the line through the first and last slice; multi-frame objects; a
//   gantry tilt (slices sheared along the normal), unless GantryTilt::Resample asks for the series to
//   be resampled onto an orthogonal grid (linear; border values continue past the tilted edge).
// - Values are RescaleSlope x stored + RescaleIntercept, per slice; the affine maps (column, row,
//   slice) to RAS+ millimetres (DICOM's LPS with x and y negated), like dcm2niix's NIfTI up to flips.
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

// What a volume read from a DICOM series keeps of it (in Volume::format_details): what a DICOM SEG
// written for it must reference, and the file whose patient and study it copies.
struct DicomSeriesDetails {
  std::string study_uid, series_uid, frame_of_reference_uid, modality, series_description;
  std::string sop_class_uid;                  // of the images
  std::vector<std::string> sop_instance_uids;  // one per slice, in the volume's slice (k) order
  std::string first_file;                      // a file of the series
  bool tilt_resampled = false;                 // the grid is not the slices' own (gantry tilt)
};
// Null when the volume came from elsewhere. Inline, so that code which only asks links without DCMTK.
inline const DicomSeriesDetails* dicom_series_details(const Volume& volume) { return std::any_cast<DicomSeriesDetails>(&volume.format_details); }

// One series of a folder, for listing and for the error that asks the user to choose.
struct DicomSeriesSummary {
  std::string uid, modality, description;
  size_t files = 0;
};
std::vector<DicomSeriesSummary> list_dicom_series(const std::string& folder);

// `path`: a folder, or a DICOMDIR file (its folder is read).
Volume read_dicom_series(const std::string& path, const VolumeReadOptions& options = {});

// The SeriesInstanceUID of one DICOM file; an error naming the file when it has none.
std::string dicom_series_uid(const std::string& file);

// True when the file starts with DICOM's 128-byte preamble and "DICM".
bool has_dicom_marker(const std::string& file);

}  // namespace repux
