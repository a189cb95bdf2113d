#include "repux/io/dicom_rtstruct.h"

#include "dicom_common.h"
#include "repux/build_info.h"
#include "repux/io/atomic_file.h"
#include "repux/io/contours.h"
#include "repux/io/dicom_series.h"
#include "repux/io/label_colours.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmrt/drtstrct.h>

#include <ctime>
#include <string>

namespace repux {
namespace {

using dicom::check;  // "cannot write PATH: WHAT (DCMTK's reason)"

std::string number(int64_t n) { return std::to_string(n); }

// A DS value: at most 16 characters (PS3.5), so millimetres to a micrometre within 10 km.
std::string coordinate(double v) { return fmt::format("{:.6g}", std::abs(v) < 5e-7 ? 0.0 : v); }

struct SliceReference {
  std::string sop_class, instance;
};

// "x\y\z\x\y\z..." of a polygon's corners in patient coordinates (LPS): corner (x, y) of slice k lies
// at voxel (x - 0.5, y - 0.5, k).
std::string contour_data(const Polygon& polygon, int64_t slice, const torch::Tensor& affine) {
  auto a = affine.accessor<double, 2>();
  std::string data;
  for (const auto& corner : polygon.corners) {
    const double v[3] = {corner[0] - 0.5, corner[1] - 0.5, static_cast<double>(slice)};
    double ras[3];
    for (int r = 0; r < 3; ++r) ras[r] = a[r][0] * v[0] + a[r][1] * v[1] + a[r][2] * v[2] + a[r][3];
    if (!data.empty()) data += '\\';
    data += coordinate(-ras[0]) + '\\' + coordinate(-ras[1]) + '\\' + coordinate(ras[2]);
  }
  return data;
}

void add_contour(DRTContourSequence& contours, const Polygon& polygon, int64_t slice, const torch::Tensor& affine,
                 const SliceReference& reference, const std::string& path) {
  DRTContourSequence::Item* item = nullptr;
  check(contours.addItem(item), path, "contour");
  DRTContourImageSequence::Item* image = nullptr;
  check(item->getContourImageSequence().addItem(image), path, "contour image");
  check(image->setReferencedSOPClassUID(reference.sop_class), path, "contour image");
  check(image->setReferencedSOPInstanceUID(reference.instance), path, "contour image");
  check(item->setContourNumber(number(static_cast<int64_t>(contours.getNumberOfItems()))), path, "contour number");
  check(item->setContourGeometricType("CLOSED_PLANAR"), path, "contour type");
  check(item->setNumberOfContourPoints(number(static_cast<int64_t>(polygon.corners.size()))), path, "contour points");
  check(item->setContourData(contour_data(polygon, slice, affine), OFFalse), path, "contour data");
}

// The ROI of class k: its name, its colour and every slice's polygons.
// `on_slices`: whether class k has voxels on each slice.
void add_roi(DRTStructureSetIOD& rt, int64_t k, const std::string& name, const torch::Tensor& labels, const torch::Tensor& on_slices,
             const torch::Tensor& affine, const DicomSeriesDetails& source, const std::string& path) {
  DRTStructureSetROISequence::Item* roi = nullptr;
  check(rt.getStructureSetROISequence().addItem(roi), path, "structure set ROI");
  check(roi->setROINumber(number(k)), path, "ROI number");
  check(roi->setReferencedFrameOfReferenceUID(source.frame_of_reference_uid, OFFalse), path, "ROI frame of reference");
  check(roi->setROIName(name, OFFalse), path, "ROI name");
  check(roi->setROIGenerationAlgorithm("AUTOMATIC"), path, "ROI generation algorithm");

  DRTROIContourSequence::Item* contour = nullptr;
  check(rt.getROIContourSequence().addItem(contour), path, "ROI contour");
  check(contour->setReferencedROINumber(number(k)), path, "ROI contour");
  const Rgb c = label_colour(k);
  check(contour->setROIDisplayColor(fmt::format("{}\\{}\\{}", c[0], c[1], c[2])), path, "ROI colour");
  auto present = on_slices.accessor<bool, 1>();
  for (int64_t s = 0; s < labels.size(2); ++s) {
    if (!present[s]) continue;
    for (const Polygon& polygon : trace_polygons(labels.select(2, s).eq(k))) {
      add_contour(contour->getContourSequence(), polygon, s, affine, {source.sop_class_uid, source.sop_instance_uids[s]}, path);
    }
  }

  DRTRTROIObservationsSequence::Item* observation = nullptr;
  check(rt.getRTROIObservationsSequence().addItem(observation), path, "ROI observation");
  check(observation->setObservationNumber(number(k)), path, "ROI observation");
  check(observation->setReferencedROINumber(number(k)), path, "ROI observation");
  check(observation->setRTROIInterpretedType("ORGAN"), path, "ROI interpreted type");
  check(observation->setROIInterpreter(""), path, "ROI interpreter");
}

// Referenced Frame of Reference Sequence: frame of reference > study > series > every slice.
void add_references(DRTStructureSetIOD& rt, const DicomSeriesDetails& source, const std::string& path) {
  DRTReferencedFrameOfReferenceSequence::Item* frame = nullptr;
  check(rt.getReferencedFrameOfReferenceSequence().addItem(frame), path, "referenced frame of reference");
  check(frame->setFrameOfReferenceUID(source.frame_of_reference_uid, OFFalse), path, "frame of reference");
  DRTRTReferencedStudySequence::Item* study = nullptr;
  check(frame->getRTReferencedStudySequence().addItem(study), path, "referenced study");
  check(study->setReferencedSOPClassUID(UID_RETIRED_DetachedStudyManagementSOPClass), path, "referenced study");
  check(study->setReferencedSOPInstanceUID(source.study_uid, OFFalse), path, "referenced study");
  DRTRTReferencedSeriesSequence::Item* series = nullptr;
  check(study->getRTReferencedSeriesSequence().addItem(series), path, "referenced series");
  check(series->setSeriesInstanceUID(source.series_uid, OFFalse), path, "referenced series");
  for (const auto& instance : source.sop_instance_uids) {
    DRTContourImageSequence::Item* image = nullptr;
    check(series->getContourImageSequence().addItem(image), path, "referenced image");
    check(image->setReferencedSOPClassUID(source.sop_class_uid, OFFalse), path, "referenced image");
    check(image->setReferencedSOPInstanceUID(instance, OFFalse), path, "referenced image");
  }
}

std::string new_uid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
}

// The series, the equipment, the structure set's label and time, and the instance.
void describe(DRTStructureSetIOD& rt, const VolumeWriteOptions& options, const std::string& path) {
  const bool keyed = !options.seg_uid_key.empty();
  check(rt.setModality("RTSTRUCT"), path, "modality");
  check(rt.setSeriesInstanceUID(keyed ? dicom::derived_uid("rtstruct-series:" + options.seg_uid_key) : new_uid()), path, "series UID");
  check(rt.setSOPInstanceUID(keyed ? dicom::derived_uid("rtstruct-instance:" + options.seg_uid_key) : new_uid()), path, "instance UID");
  check(rt.setSOPClassUID(UID_RTStructureSetStorage), path, "SOP class");
  check(rt.setSeriesNumber("901"), path, "series number");
  check(rt.setSeriesDescription("repux structures"), path, "series description");
  check(rt.setInstanceNumber("1"), path, "instance number");
  check(rt.setManufacturer("repux"), path, "manufacturer");
  check(rt.setManufacturerModelName("repux"), path, "model name");
  check(rt.setSoftwareVersions(build_info().version), path, "software version");
  check(rt.setOperatorsName(""), path, "operator");
  check(rt.setStructureSetLabel("repux"), path, "structure set label");
  check(rt.setStructureSetName("repux segmentation"), path, "structure set name");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char date[16], time[16];
  std::strftime(date, sizeof date, "%Y%m%d", &local);
  std::strftime(time, sizeof time, "%H%M%S", &local);
  check(rt.setStructureSetDate(date), path, "structure set date");
  check(rt.setStructureSetTime(time), path, "structure set time");
  check(rt.setInstanceCreationDate(date), path, "creation date");
  check(rt.setInstanceCreationTime(time), path, "creation time");
}

}  // namespace

void write_dicom_rtstruct(const Volume& labels, const std::string& path, const VolumeWriteOptions& options) {
  dicom::initialise();
  const dicom::SourceValuesKept keep_source_values;
  const DicomSeriesDetails* source = &dicom::derived_object_source(labels, path, "an RTSTRUCT");
  if (source->tilt_resampled) fail("cannot write {}: the series was resampled for its gantry tilt, so its slices are not the grid's", path);
  const torch::Tensor values = labels.data.round().to(torch::kInt32).cpu().contiguous();
  const int64_t max_label = values.max().item<int>();
  if (values.min().item<int>() < 0) fail("cannot write {}: labels must not be negative", path);
  const int64_t classes = std::max<int64_t>(static_cast<int64_t>(labels.label_names.size()), max_label + 1);

  DRTStructureSetIOD rt;
  std::string position_reference;
  if (!source->first_file.empty()) {
    DcmFileFormat first;
    check(first.loadFile(source->first_file.c_str()), path, "the source series' first file");
    check(rt.readStudyData(*first.getDataset()), path, "patient and study of the source");
    position_reference = dicom::text(*first.getDataset(), DCM_PositionReferenceIndicator);
  }
  // The Frame of Reference module: the source's, which every contour's coordinates are in.
  check(rt.setFrameOfReferenceUID(source->frame_of_reference_uid, OFFalse), path, "frame of reference");
  check(rt.setPositionReferenceIndicator(position_reference, OFFalse), path, "position reference indicator");
  describe(rt, options, path);
  add_references(rt, *source, path);
  const torch::Tensor affine = labels.affine.to(torch::kFloat64).contiguous();
  const torch::Tensor on_slices = dicom::labels_on_slices(values, classes);
  for (int64_t k = 1; k < classes; ++k) {
    add_roi(rt, k, label_name(labels, k), values, on_slices[k], affine, *source, path);
  }
  DcmFileFormat file;
  check(rt.write(*file.getDataset()), path, "dataset");
  AtomicFile out(path);
  check(file.saveFile(out.temporary_path().c_str(), EXS_LittleEndianExplicit), path, "file");
  out.commit();
}

}  // namespace repux
