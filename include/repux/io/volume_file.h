#pragma once
// Volumes in files, whichever the format: the one entry the rest of repux uses to read and write
// images and label maps. The format is chosen by the path; volume_file.cpp holds the table of
// formats, so a new one (DICOM series next) is added there and nowhere else.
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

// Whether some format claims this file name (today: .nii and .nii.gz).
bool is_volume_path(const std::string& path);
// "a .nii or .nii.gz file": what the formats accept, for messages.
std::string volume_path_kinds();

// The file names (not paths) of the volumes in a folder, sorted; hidden files skipped. An error if
// the folder does not exist.
std::vector<std::string> list_volume_files(const std::string& folder);
// The name without the format's suffix ("case_01" of "case_01.nii.gz"), and the suffix.
std::string volume_stem(const std::string& name);
std::string volume_suffix(const std::string& name);

Volume read_volume(const std::string& path, const VolumeReadOptions& options = {});
// Atomic: a temporary name, then a rename; never a half-written file under `path`.
void write_volume(const Volume& volume, const std::string& path);
// Before any work: a format claims the path and its folder exists and is writable; else an error.
void ensure_writable_volume(const std::string& path);

}  // namespace repux
