#pragma once
// DICOM Segmentation objects (SEG), written and read through DCMTK's dcmseg. Callers outside io/
// use read_volume / write_volume (volume_file.h): a ".dcm" file is a SEG.
//
// Written: BINARY segmentation, one segment per class 1..K-1 (its label the class name, its
// recommended display colour label_colour's), frames only
// where a segment has voxels (an all-empty map keeps one empty frame, as a SEG needs one), each frame
// one slice of the source grid, with its plane position, the source slice it derives from, and
// dimension indices (segment number, plane position). Patient, study and frame of reference are the
// source series'; the series and instance are new. The labels must carry DicomSeriesDetails (they
// came from a DICOM series, or `repux convert --reference` attached them).
//
// Segment codes: a class whose name is known (a built-in table of common organs, or a user mapping
// file) gets its SNOMED CT category and type; any other gets category and type "Tissue". The mapping
// file is JSON, one entry per class name (compared without case, '_' and ' ' alike):
//   {"liver": {"category": ["123037004", "SCT", "Anatomical Structure"], "type": ["10200004", "SCT", "Liver"]}}
//
// Read: each segment's frames are placed on VolumeReadOptions::reference_grid when given (frames must
// lie on its slices), else on the smallest grid along the normal that holds every frame. The label of
// a voxel is its segment number; a voxel in two segments is an error (repux's maps hold one label).
#include "repux/io/volume.h"

#include <string>

namespace repux {

struct SegmentCode {
  std::string code, scheme, meaning;
};
struct SegmentCodes {
  SegmentCode category, type;
};
// The codes for a class name: the mapping file's entry (when a file is given and names the class),
// else the built-in table's, else "Tissue". A malformed mapping file is an error naming it.
SegmentCodes segment_codes(const std::string& class_name, const std::string& mapping_file = "");

void write_dicom_seg(const Volume& labels, const std::string& path, const VolumeWriteOptions& options = {});
Volume read_dicom_seg(const std::string& path, const VolumeReadOptions& options = {});

// True when `file` is a DICOM Segmentation object.
bool is_dicom_seg(const std::string& file);

}  // namespace repux
