#pragma once
// Volumes in files, whichever the format: the one entry the rest of repux uses to read and write
// images and label maps. The format is chosen by the path; volume_file.cpp holds the table of
// formats, so a new one is added there and nowhere else:
//   .nii, .nii.gz        NIfTI-1/2 (read and write)
//   .dcm                 a DICOM SEG (read and write), an RTSTRUCT (write: VolumeWriteOptions), or
//                        one image of a DICOM series (read: its series)
//   a folder, DICOMDIR   a DICOM CT or MR series (read; see dicom_series.h for the rules)
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

// Whether some format claims this file name (.nii, .nii.gz, .dcm).
bool is_volume_path(const std::string& path);
// Whether the path is read as a DICOM series: a folder, or a file named DICOMDIR.
bool is_dicom_folder(const std::string& path);
// "a .nii, .nii.gz or .dcm file": what the formats accept, for messages.
std::string volume_path_kinds();

// The file names (not paths) of the volumes in a folder, sorted; hidden files and .dcm files that
// are not SEGs (slices of a series) skipped. An error if the folder does not exist.
std::vector<std::string> list_volume_files(const std::string& folder);
// The name without the format's suffix ("case_01" of "case_01.nii.gz"), and the suffix.
std::string volume_stem(const std::string& name);
std::string volume_suffix(const std::string& name);

Volume read_volume(const std::string& path, const VolumeReadOptions& options = {});
// A label map that belongs to an image on `image_grid`: a DICOM SEG's frames are placed on that grid
// (a SEG leaves out empty slices); other formats are read as they are.
Volume read_label_volume(const std::string& path, const Grid& image_grid);
// Atomic: a temporary name, then a rename; never a half-written file under `path`.
void write_volume(const Volume& volume, const std::string& path, const VolumeWriteOptions& options = {});
// Makes the DICOM series `reference` the source of `labels` (what a SEG or RTSTRUCT written from them
// references: its study, slices and frame of reference); an error naming both unless their voxel
// grids agree.
void attach_dicom_reference(Volume& labels, const Volume& reference, const std::string& labels_name, const std::string& reference_name);
// Before any work: a format claims the path and its folder exists and is writable; else an error.
void ensure_writable_volume(const std::string& path);

}  // namespace repux
