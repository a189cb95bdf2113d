#pragma once
// What the DICOM series reader and the SEG reader and writer share (private to src/io/).
#include "repux/error.h"
#include "repux/io/dicom_toolkit.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>

namespace repux::dicom {

// The `count` numbers of a decimal-string attribute; an error naming `file` and the attribute when
// absent, short, or any value is not a finite decimal number.
std::vector<double> numbers(DcmItem& item, const DcmTagKey& tag, size_t count, const std::string& file);
// A single-valued decimal attribute: nothing when absent or empty; an error naming `file` and the
// attribute when its value is not one finite decimal number ("abc", "1.5x", "NaN", "1\\2").
std::optional<double> optional_number(DcmItem& item, const DcmTagKey& tag, const std::string& file);
// An unsigned short attribute that must be present; an error naming `file` and the attribute otherwise.
Uint16 required_ushort(DcmItem& item, const DcmTagKey& tag, const std::string& file);

// "RescaleIntercept (0028,1052)": how errors name an attribute.
std::string attribute_name(const DcmTagKey& tag);

// Geometry bounds checked before anything is computed or allocated from a file's numbers: spacings
// from 1e-4 to 1e4 mm (0.1 um to 10 m) and coordinates within 1e7 mm (10 km) of the origin. Real
// images lie far inside; beyond them lie overflow and multi-gigabyte grids.
inline constexpr double kMinSpacingMm = 1e-4, kMaxSpacingMm = 1e4, kMaxCoordinateMm = 1e7;
inline bool spacing_in_bounds(double spacing) { return spacing >= kMinSpacingMm && spacing <= kMaxSpacingMm; }
void check_spacing(double spacing, const std::string& file, const std::string& what);
void check_position(const std::array<double, 3>& position, const std::string& file, const std::string& what);
// Two orthogonal unit vectors (to 1e-3), as ImageOrientationPatient must hold.
void check_orientation(const std::array<double, 3>& row, const std::array<double, 3>& column, const std::string& file);

// DICOM's patient coordinates are LPS; repux's affines are RAS (x and y negated).
inline std::array<double, 3> lps_to_ras(const std::array<double, 3>& p) { return {-p[0], -p[1], p[2]}; }

// The [4, 4] RAS affine of (column, row, slice) indices from LPS directions and an LPS origin:
// column axis along `row_cosines` by `column_spacing`, row axis along `column_cosines` by
// `row_spacing`, slice axis along `slice_step` (already scaled).
torch::Tensor affine_from_lps(const std::array<double, 3>& row_cosines, const std::array<double, 3>& column_cosines,
                              double column_spacing, double row_spacing, const std::array<double, 3>& slice_step,
                              const std::array<double, 3>& origin);

std::array<double, 3> cross(const std::array<double, 3>& a, const std::array<double, 3>& b);
double dot(const std::array<double, 3>& a, const std::array<double, 3>& b);

}  // namespace repux::dicom
