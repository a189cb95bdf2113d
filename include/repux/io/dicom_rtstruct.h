#pragma once
// DICOM RT Structure Sets (RTSTRUCT), written through DCMTK's dcmrt: what radiotherapy planning
// systems read. Callers outside io/ use write_volume with VolumeWriteOptions::dicom_object.
//
// Written: one ROI per class 1..K-1 (named as the class, coloured as in the SEG: label_colour), each
// with its slices' closed planar contours in patient coordinates (LPS, mm). A contour follows the
// edges of the labelled voxels of one slice (contours.h): islands and holes are separate contours, and
// a planning system filling them by the even-odd rule, as DICOM's contours are filled, gets back the
// voxels exactly. Each contour references its slice; the structure set references the study, the
// series, every slice and the frame of reference of the source series, whose patient and study it
// joins. A class without voxels keeps its ROI, without contours. The labels must carry
// DicomSeriesDetails (they came from a DICOM series, or `repux convert --reference` attached them).
#include "repux/io/volume.h"

#include <string>

namespace repux {

void write_dicom_rtstruct(const Volume& labels, const std::string& path, const VolumeWriteOptions& options = {});

}  // namespace repux
