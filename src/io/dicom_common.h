#pragma once
// What the DICOM series reader and the SEG reader and writer share (private to src/io/).
#include "repux/error.h"
#include "repux/io/dicom_series.h"
#include "repux/io/dicom_toolkit.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcbytstr.h>
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

// DCMTK checks every string value against its VR while a derived object (SEG, RTSTRUCT) is built
// and written. The values it copies from its source (study, patient, frame of reference, referenced
// instances) must stay exactly as they are, valid or not: an object whose StudyInstanceUID were
// "corrected" would land in another study. Such values are common: plastimatch, for one, writes UIDs
// whose last component starts with 0 (invalid by PS3.5 9.1) for about one series in ten. So the check
// is off while the object is assembled; what repux itself generates is DCMTK's UIDs and fixed text,
// which the tests validate with dciodvfy.
class SourceValuesKept {
 public:
  SourceValuesKept() : was_(dcmEnableVRCheckerForStringValues.get()) { dcmEnableVRCheckerForStringValues.set(OFFalse); }
  ~SourceValuesKept() { dcmEnableVRCheckerForStringValues.set(was_); }

 private:
  OFBool was_;
};

// The source series of the labels a derived object (`what`: "a DICOM SEG", "an RTSTRUCT") is written
// from; an error naming `path` unless the labels came from a series (or were given one), hold one
// label map, and have the series' number of slices.
const DicomSeriesDetails& derived_object_source(const Volume& labels, const std::string& path, const char* what);

// present[k][s]: whether label k has voxels on slice s (the third axis) of `labels`, integers 0..classes-1:
// the slices a SEG writes frames for and an RTSTRUCT draws contours on.
torch::Tensor labels_on_slices(const torch::Tensor& labels, int64_t classes);

// Writing a DICOM object: an error "cannot write PATH: WHAT (DCMTK's reason)" when `status` is bad.
inline void check(const OFCondition& status, const std::string& path, const char* what) {
  if (status.bad()) fail("cannot write {}: {} ({})", path, what, status.text());
}

std::array<double, 3> cross(const std::array<double, 3>& a, const std::array<double, 3>& b);
double dot(const std::array<double, 3>& a, const std::array<double, 3>& b);

}  // namespace repux::dicom
