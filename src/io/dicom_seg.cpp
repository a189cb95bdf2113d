#include "repux/io/dicom_seg.h"

#include "dicom_common.h"
#include "repux/build_info.h"
#include "repux/io/atomic_file.h"
#include "repux/io/dicom_series.h"
#include "repux/io/label_colours.h"

#include <dcmtk/dcmdata/dcbytstr.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/dcmseg/segutils.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>

namespace repux {
namespace {

using Vec3 = std::array<double, 3>;

// Class names compared without case, with '_' and '-' read as spaces.
std::string normalised(std::string name) {
  for (char& c : name) c = c == '_' || c == '-' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

const SegmentCode kAnatomicalStructure{"123037004", "SCT", "Anatomical Structure"};
const SegmentCode kTissue{"85756007", "SCT", "Tissue"};

// SNOMED CT codes of the structures repux's presets and the common abdominal datasets name.
const std::map<std::string, SegmentCodes>& builtin_codes() {
  static const std::map<std::string, SegmentCodes> table = [] {
    std::map<std::string, SegmentCodes> t;
    const std::pair<const char*, SegmentCode> anatomy[] = {
        {"liver", {"10200004", "SCT", "Liver"}},          {"spleen", {"78961009", "SCT", "Spleen"}},
        {"pancreas", {"15776009", "SCT", "Pancreas"}},    {"kidney", {"64033007", "SCT", "Kidney"}},
        {"right kidney", {"9846003", "SCT", "Right kidney"}}, {"left kidney", {"18639004", "SCT", "Left kidney"}},
        {"gallbladder", {"28231008", "SCT", "Gallbladder"}}, {"stomach", {"69695003", "SCT", "Stomach"}},
        {"aorta", {"15825003", "SCT", "Aorta"}},          {"inferior vena cava", {"64131007", "SCT", "Inferior vena cava"}},
        {"esophagus", {"32849002", "SCT", "Esophagus"}},  {"duodenum", {"38848004", "SCT", "Duodenum"}},
        {"adrenal gland", {"23451007", "SCT", "Adrenal gland"}}, {"urinary bladder", {"89837001", "SCT", "Urinary bladder"}},
        {"bladder", {"89837001", "SCT", "Urinary bladder"}}, {"prostate", {"41216001", "SCT", "Prostate"}},
        {"brain", {"12738006", "SCT", "Brain"}},          {"heart", {"80891009", "SCT", "Heart"}},
        {"lung", {"39607008", "SCT", "Lung"}},            {"colon", {"71854001", "SCT", "Colon"}},
        {"small intestine", {"30315005", "SCT", "Small intestine"}}};
    for (const auto& [name, type] : anatomy) t[name] = {kAnatomicalStructure, type};
    const SegmentCode abnormal{"49755003", "SCT", "Morphologically Abnormal Structure"};
    t["tumor"] = t["tumour"] = t["lesion"] = {abnormal, {"108369006", "SCT", "Neoplasm"}};
    return t;
  }();
  return table;
}

SegmentCode code_from_json(const nlohmann::json& j, const std::string& file, const std::string& name, const char* field) {
  if (!j.contains(field) || !j[field].is_array() || j[field].size() != 3 ||
      !std::all_of(j[field].begin(), j[field].end(), [](const nlohmann::json& v) { return v.is_string() && !v.get<std::string>().empty(); })) {
    fail("{}: entry '{}' needs \"{}\": [code, scheme, meaning], three non-empty strings", file, name, field);
  }
  return {j[field][0], j[field][1], j[field][2]};
}

// The user's mapping; none (empty) when no file is given.
std::map<std::string, SegmentCodes> read_code_file(const std::string& file) {
  if (file.empty()) return {};
  std::ifstream in(file);
  if (!in) fail("{}: cannot open the segment code mapping", file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception&) {
    fail("{}: not valid JSON (expected {{\"class name\": {{\"category\": [...], \"type\": [...]}}}})", file);
  }
  if (!j.is_object()) fail("{}: expected a JSON object keyed by class name", file);
  std::map<std::string, SegmentCodes> codes;
  for (const auto& [name, entry] : j.items()) {
    if (!entry.is_object()) fail("{}: entry '{}' is not an object", file, name);
    codes[normalised(name)] = {code_from_json(entry, file, name, "category"), code_from_json(entry, file, name, "type")};
  }
  return codes;
}

// The codes of a class name: the user's mapping (already parsed), else the built-in table, else "Tissue".
SegmentCodes codes_for(const std::string& class_name, const std::map<std::string, SegmentCodes>& user) {
  const std::string key = normalised(class_name);
  if (const auto it = user.find(key); it != user.end()) return it->second;
  if (const auto it = builtin_codes().find(key); it != builtin_codes().end()) return it->second;
  return {kTissue, kTissue};
}

using dicom::check;  // "cannot write PATH: WHAT (DCMTK's reason)"

std::string decimal(double v) { return fmt::format("{:.10g}", v); }

// The SEG's plane geometry in DICOM terms, from a RAS affine of (column, row, slice).
struct PlaneGeometry {
  Vec3 row_cosines, column_cosines, slice_step, origin;  // LPS
  double column_spacing = 0, row_spacing = 0;
  Vec3 position(int64_t slice) const {
    return {origin[0] + slice * slice_step[0], origin[1] + slice * slice_step[1], origin[2] + slice * slice_step[2]};
  }
};

PlaneGeometry plane_geometry(const torch::Tensor& affine) {
  auto a = affine.accessor<double, 2>();
  PlaneGeometry g;
  Vec3 columns[4];
  for (int c = 0; c < 4; ++c) columns[c] = {-a[0][c], -a[1][c], a[2][c]};  // RAS -> LPS
  g.column_spacing = std::sqrt(dicom::dot(columns[0], columns[0]));
  g.row_spacing = std::sqrt(dicom::dot(columns[1], columns[1]));
  for (int r = 0; r < 3; ++r) {
    g.row_cosines[r] = columns[0][r] / g.column_spacing;
    g.column_cosines[r] = columns[1][r] / g.row_spacing;
  }
  g.slice_step = columns[2];
  g.origin = columns[3];
  return g;
}

void add_shared_groups(DcmSegmentation& seg, const PlaneGeometry& g, const std::string& path) {
  const Vec3 normal = dicom::cross(g.row_cosines, g.column_cosines);
  const double thickness = std::abs(dicom::dot(g.slice_step, normal));
  FGPixelMeasures measures;
  check(measures.setPixelSpacing((decimal(g.row_spacing) + "\\" + decimal(g.column_spacing)).c_str()), path, "pixel spacing");
  check(measures.setSliceThickness(decimal(thickness).c_str()), path, "slice thickness");
  check(measures.setSpacingBetweenSlices(decimal(thickness).c_str()), path, "slice spacing");
  check(seg.addForAllFrames(measures), path, "pixel measures");
  FGPlaneOrientationPatient orientation;
  const auto& r = g.row_cosines;
  const auto& c = g.column_cosines;
  check(orientation.setImageOrientationPatient(decimal(r[0]).c_str(), decimal(r[1]).c_str(), decimal(r[2]).c_str(), decimal(c[0]).c_str(),
                                               decimal(c[1]).c_str(), decimal(c[2]).c_str()),
        path, "orientation");
  check(seg.addForAllFrames(orientation), path, "orientation");
}

void add_segments(DcmSegmentation& seg, const std::vector<std::string>& names, const VolumeWriteOptions& options, const std::string& path) {
  const auto user_codes = read_code_file(options.segment_codes_file);
  for (size_t k = 1; k < names.size(); ++k) {
    const SegmentCodes codes = codes_for(names[k], user_codes);
    CodeSequenceMacro category(codes.category.code.c_str(), codes.category.scheme.c_str(), codes.category.meaning.c_str());
    CodeSequenceMacro type(codes.type.code.c_str(), codes.type.scheme.c_str(), codes.type.meaning.c_str());
    DcmSegment* segment = nullptr;
    check(DcmSegment::create(segment, names[k].c_str(), category, type, DcmSegTypes::SAT_AUTOMATIC, "repux"), path, "segment");
    double lab[3];
    const Rgb rgb = label_colour(static_cast<int64_t>(k));
    IODCIELabUtil::rgb2DicomLab(lab[0], lab[1], lab[2], rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    check(segment->setRecommendedDisplayCIELabValue(static_cast<Uint16>(std::lround(lab[0])), static_cast<Uint16>(std::lround(lab[1])),
                                                     static_cast<Uint16>(std::lround(lab[2]))),
          path, "segment colour");
    Uint16 number = 0;
    check(seg.addSegment(segment, number), path, "segment");
    if (number != k) fail("cannot write {}: segment {} was numbered {}", path, k, number);
  }
}

// One frame per (segment, slice) that holds voxels; an all-empty map keeps one empty frame.
void add_frames(DcmSegmentation& seg, const torch::Tensor& labels, int64_t classes, const PlaneGeometry& g, const DicomSeriesDetails& source,
                const std::string& path) {
  const int64_t slices = labels.size(2);
  const torch::Tensor present = dicom::labels_on_slices(labels, classes);
  present[0].fill_(false);
  const bool empty = !present.any().item<bool>();
  if (empty && classes > 1) present[1][0] = true;
  auto has = present.accessor<bool, 2>();
  for (int64_t k = 1; k < classes; ++k) {
    for (int64_t s = 0; s < slices; ++s) {
      if (!has[k][s]) continue;
      torch::Tensor mask = labels.select(2, s).eq(k).t().contiguous().to(torch::kUInt8);  // [rows, columns]
      FGPlanePosPatient position;
      const Vec3 p = g.position(s);
      check(position.setImagePositionPatient(decimal(p[0]).c_str(), decimal(p[1]).c_str(), decimal(p[2]).c_str()), path, "plane position");
      FGFrameContent content;
      check(content.setDimensionIndexValues(static_cast<Uint32>(k), 0), path, "dimension index");
      check(content.setDimensionIndexValues(static_cast<Uint32>(s + 1), 1), path, "dimension index");
      ImageSOPInstanceReferenceMacro reference;
      check(reference.setReferencedSOPClassUID(source.sop_class_uid.c_str()), path, "source reference");
      check(reference.setReferencedSOPInstanceUID(source.sop_instance_uids[s].c_str()), path, "source reference");
      OFVector<ImageSOPInstanceReferenceMacro> references;
      references.push_back(reference);
      std::unique_ptr<FGDerivationImage> derivation(DcmSegmentation::createDerivationImageFG(references, "Segmentation by repux"));
      if (!derivation) fail("cannot write {}: derivation image reference", path);
      OFVector<FGBase*> groups;
      groups.push_back(&position);
      groups.push_back(&content);
      groups.push_back(derivation.get());
      check(seg.addFrame(mask.data_ptr<uint8_t>(), static_cast<Uint16>(k), groups), path, "frame");
    }
  }
}

void add_dimensions(DcmSegmentation& seg, const std::string& path) {
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  IODMultiframeDimensionModule& dims = seg.getDimensions();
  check(dims.addDimensionIndex(DCM_ReferencedSegmentNumber, uid, DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"), path,
        "dimension");
  check(dims.addDimensionIndex(DCM_ImagePositionPatient, uid, DCM_PlanePositionSequence, "ImagePositionPatient"), path, "dimension");
}

// The Common Instance Reference module: the source series and every slice of it.
void add_series_reference(DcmItem& dataset, const DicomSeriesDetails& source, const std::string& path) {
  DcmItem* series = nullptr;
  check(dataset.findOrCreateSequenceItem(DCM_ReferencedSeriesSequence, series, 0), path, "referenced series");
  check(series->putAndInsertString(DCM_SeriesInstanceUID, source.series_uid.c_str()), path, "referenced series");
  for (const auto& instance : source.sop_instance_uids) {
    DcmItem* item = nullptr;
    check(series->findOrCreateSequenceItem(DCM_ReferencedInstanceSequence, item, -2), path, "referenced instance");
    check(item->putAndInsertString(DCM_ReferencedSOPClassUID, source.sop_class_uid.c_str()), path, "referenced instance");
    check(item->putAndInsertString(DCM_ReferencedSOPInstanceUID, instance.c_str()), path, "referenced instance");
  }
}

std::vector<std::string> class_names(const Volume& labels, int64_t max_label) {
  std::vector<std::string> names = labels.label_names;
  for (int64_t k = static_cast<int64_t>(names.size()); k <= max_label || k < 2; ++k) names.push_back(k == 0 ? "background" : label_name(labels, k));
  return names;
}

// One frame as the reader sees it: its segment, its position (LPS) and its mask [rows, columns].
struct SegFrame {
  Uint16 segment = 0;
  Vec3 position{};
  torch::Tensor mask;
};

template <typename Group>
Group* frame_group(FGInterface& groups, size_t frame, DcmFGTypes::E_FGType type, const std::string& path, const char* what) {
  auto* g = OFstatic_cast(Group*, groups.get(static_cast<Uint32>(frame), type));
  if (!g) fail("{}: frame {} has no {}", path, frame + 1, what);
  return g;
}

std::vector<SegFrame> read_frames(DcmSegmentation& seg, Uint16 rows, Uint16 columns, const std::string& path) {
  FGInterface& groups = seg.getFunctionalGroups();
  std::vector<SegFrame> frames;
  const size_t segments = seg.getNumberOfSegments();
  for (size_t f = 0; f < seg.getNumberOfFrames(); ++f) {
    SegFrame frame;
    auto* segmentation = frame_group<FGSegmentation>(groups, f, DcmFGTypes::EFG_SEGMENTATION, path, "segment number");
    if (segmentation->getReferencedSegmentNumber(frame.segment).bad() || frame.segment == 0) fail("{}: frame {} names no segment", path, f + 1);
    if (frame.segment > segments) {
      fail("{}: frame {} names segment {} (ReferencedSegmentNumber), but the SEG defines {} segment(s)", path, f + 1, frame.segment, segments);
    }
    auto* position = frame_group<FGPlanePosPatient>(groups, f, DcmFGTypes::EFG_PLANEPOSPATIENT, path, "plane position");
    if (position->getImagePositionPatient(frame.position[0], frame.position[1], frame.position[2]).bad()) {
      fail("{}: frame {} has no ImagePositionPatient", path, f + 1);
    }
    dicom::check_position(frame.position, path, fmt::format("frame {}'s ImagePositionPatient", f + 1));
    const DcmIODTypes::Frame* data = seg.getFrame(f);
    const size_t pixels = static_cast<size_t>(rows) * columns;
    if (!data || !data->pixData) fail("{}: frame {} has no pixel data", path, f + 1);
    std::unique_ptr<DcmIODTypes::Frame> unpacked;
    if (data->length < pixels) {  // bit-packed, as stored
      unpacked.reset(DcmSegUtils::unpackBinaryFrame(data, rows, columns));
      if (!unpacked || unpacked->length < pixels) fail("{}: frame {} holds too few pixels", path, f + 1);
      data = unpacked.get();
    }
    frame.mask = torch::from_blob(data->pixData, {rows, columns}, torch::kUInt8).ne(0);
    frames.push_back(frame);
  }
  if (frames.empty()) fail("{}: the SEG has no frames", path);
  return frames;
}

// Where each frame's slice lies: on the reference grid, or on the SEG's own grid along the normal.
std::vector<int64_t> slice_indices(const std::vector<SegFrame>& frames, const torch::Tensor& affine, int64_t slices, const std::string& path) {
  const torch::Tensor to_voxel = torch::inverse(affine);
  std::vector<int64_t> indices;
  for (const auto& f : frames) {
    const Vec3 ras = dicom::lps_to_ras(f.position);
    const torch::Tensor ijk = torch::matmul(to_voxel, torch::tensor({ras[0], ras[1], ras[2], 1.0}, torch::kFloat64));
    auto v = ijk.accessor<double, 1>();
    const int64_t k = std::llround(v[2]);
    if (std::abs(v[0]) > 0.01 || std::abs(v[1]) > 0.01 || std::abs(v[2] - k) > 0.01 || k < 0 || k >= slices) {
      fail("{}: a frame of segment {} lies at voxel ({:.3g}, {:.3g}, {:.3g}) of the reference grid, not on one of its {} slices", path,
           f.segment, v[0], v[1], v[2], slices);
    }
    indices.push_back(k);
  }
  return indices;
}

// Bounds of a SEG's own grid: 10,000 slices (5 m at 0.5 mm) and 2^30 voxels (4 GiB of int32 labels;
// 512 x 512 x 4096).
constexpr double kMaxSegSlices = 10000, kMaxSegVoxels = 1073741824.0;

// The smallest grid along the normal that holds every frame: origin at the lowest frame.
Grid own_grid(const std::vector<SegFrame>& frames, const PlaneGeometry& plane, double spacing, Uint16 rows, Uint16 columns,
              const std::string& path) {
  const Vec3 normal = dicom::cross(plane.row_cosines, plane.column_cosines);
  const auto lowest = std::min_element(frames.begin(), frames.end(), [&](const SegFrame& a, const SegFrame& b) {
    return dicom::dot(a.position, normal) < dicom::dot(b.position, normal);
  });
  double top = 0;
  for (const auto& f : frames) top = std::max(top, dicom::dot(f.position, normal) - dicom::dot(lowest->position, normal));
  // Positions and spacing are bounded (checked when read), so the count is finite; it is bounded before
  // the grid is allocated: a few kilobytes of SEG must not claim gigabytes.
  const double slices = std::round(top / spacing) + 1;
  if (slices > kMaxSegSlices || slices * rows * columns > kMaxSegVoxels) {
    fail("{}: its frames span {:.6g} mm along the normal, {:.0f} slices of {:.6g} mm ({} x {} pixels): more than a SEG's grid may hold "
         "({:.0f} slices, {:.0f} voxels)",
         path, top, slices, spacing, rows, columns, kMaxSegSlices, kMaxSegVoxels);
  }
  const Vec3 step{normal[0] * spacing, normal[1] * spacing, normal[2] * spacing};
  Grid grid;
  grid.affine = dicom::affine_from_lps(plane.row_cosines, plane.column_cosines, plane.column_spacing, plane.row_spacing, step, lowest->position);
  grid.shape = {columns, rows, static_cast<int64_t>(slices)};
  return grid;
}

PlaneGeometry seg_plane(DcmSegmentation& seg, double& slice_spacing, const std::string& path) {
  FGInterface& groups = seg.getFunctionalGroups();
  auto* orientation = frame_group<FGPlaneOrientationPatient>(groups, 0, DcmFGTypes::EFG_PLANEORIENTPATIENT, path, "plane orientation");
  auto* measures = frame_group<FGPixelMeasures>(groups, 0, DcmFGTypes::EFG_PIXELMEASURES, path, "pixel measures");
  PlaneGeometry g;
  Float64 v[6];
  if (orientation->getImageOrientationPatient(v[0], v[1], v[2], v[3], v[4], v[5]).bad()) fail("{}: no ImageOrientationPatient", path);
  g.row_cosines = {v[0], v[1], v[2]};
  g.column_cosines = {v[3], v[4], v[5]};
  dicom::check_orientation(g.row_cosines, g.column_cosines, path);
  if (measures->getPixelSpacing(v[0], 0).bad() || measures->getPixelSpacing(v[1], 1).bad()) fail("{}: no valid PixelSpacing", path);
  g.row_spacing = v[0];
  g.column_spacing = v[1];
  dicom::check_spacing(g.row_spacing, path, "PixelSpacing (rows)");
  dicom::check_spacing(g.column_spacing, path, "PixelSpacing (columns)");
  slice_spacing = 0;
  if (measures->getSpacingBetweenSlices(v[2]).good()) {
    dicom::check_spacing(v[2], path, "SpacingBetweenSlices");
    slice_spacing = v[2];
  } else if (measures->getSliceThickness(v[2]).good()) {
    dicom::check_spacing(v[2], path, "SliceThickness");
    slice_spacing = v[2];
  }
  return g;
}

std::vector<std::string> segment_labels(DcmSegmentation& seg) {
  std::vector<std::string> names{"background"};
  for (size_t n = 1; n <= seg.getNumberOfSegments(); ++n) {
    OFString label;
    DcmSegment* segment = seg.getSegment(n);
    if (segment) segment->getSegmentLabel(label);
    names.push_back(label.empty() ? fmt::format("segment {}", n) : label.c_str());
  }
  return names;
}

}  // namespace

SegmentCodes segment_codes(const std::string& class_name, const std::string& mapping_file) {
  return codes_for(class_name, read_code_file(mapping_file));
}

void write_dicom_seg(const Volume& labels, const std::string& path, const VolumeWriteOptions& options) {
  dicom::initialise();
  const dicom::SourceValuesKept keep_source_values;
  const DicomSeriesDetails* source = &dicom::derived_object_source(labels, path, "a DICOM SEG");
  const auto shape = labels.spatial_shape();
  if (shape[0] > 65535 || shape[1] > 65535) fail("cannot write {}: slices of {} x {} exceed DICOM's 65535", path, shape[1], shape[0]);
  const torch::Tensor values = labels.data.round().to(torch::kInt64).cpu().contiguous();
  const int64_t max_label = values.max().item<int64_t>();
  if (values.min().item<int64_t>() < 0 || max_label > 65534) fail("cannot write {}: labels must lie in 0..65534", path);
  const auto names = class_names(labels, max_label);
  const auto classes = static_cast<int64_t>(names.size());

  IODGeneralEquipmentModule::EquipmentInfo equipment("repux", "repux", "1", build_info().version.c_str());
  ContentIdentificationMacro content("1", "REPUX", "repux segmentation", "repux^");  // a PN: family^given
  DcmSegmentation* created = nullptr;
  check(DcmSegmentation::createBinarySegmentation(created, static_cast<Uint16>(shape[1]), static_cast<Uint16>(shape[0]), equipment, content),
        path, "segmentation object");
  std::unique_ptr<DcmSegmentation> seg(created);
  if (!source->first_file.empty()) check(seg->importFromSourceImage(source->first_file.c_str()), path, "patient and study of the source");
  check(seg->getSeries().setSeriesDescription("repux segmentation"), path, "series");
  check(seg->getSeries().setSeriesNumber("900"), path, "series");
  if (!options.seg_uid_key.empty()) {
    check(seg->getSeries().setSeriesInstanceUID(dicom::derived_uid("seg-series:" + options.seg_uid_key).c_str()), path, "series UID");
    check(seg->getSOPCommon().setSOPInstanceUID(dicom::derived_uid("seg-instance:" + options.seg_uid_key).c_str()), path, "instance UID");
  }
  const PlaneGeometry g = plane_geometry(labels.affine);
  add_shared_groups(*seg, g, path);
  add_segments(*seg, names, options, path);
  add_frames(*seg, values, classes, g, *source, path);
  add_dimensions(*seg, path);

  DcmFileFormat file;
  check(seg->writeDataset(*file.getDataset()), path, "dataset");
  add_series_reference(*file.getDataset(), *source, path);
  AtomicFile out(path);
  check(file.saveFile(out.temporary_path().c_str(), EXS_LittleEndianExplicit), path, "file");
  out.commit();
}

bool is_dicom_seg(const std::string& file) {
  if (!has_dicom_marker(file)) return false;
  dicom::initialise();
  DcmFileFormat ff;
  if (ff.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 256, ERM_fileOnly).bad()) return false;
  return dicom::text(*ff.getDataset(), DCM_SOPClassUID) == UID_SegmentationStorage;
}

Volume read_dicom_seg(const std::string& path, const VolumeReadOptions& options) {
  dicom::initialise();
  if (!has_dicom_marker(path)) fail("{}: not a DICOM file (no DICM marker)", path);
  if (!is_dicom_seg(path)) fail("{}: not a DICOM Segmentation object (SOP class {})", path, UID_SegmentationStorage);
  DcmSegmentation* loaded = nullptr;
  const OFCondition status = DcmSegmentation::loadFile(path.c_str(), loaded);
  std::unique_ptr<DcmSegmentation> seg(loaded);
  if (status.bad() || !seg) fail("{}: not a readable DICOM SEG ({})", path, status.text());
  if (seg->getSegmentationType() != DcmSegTypes::ST_BINARY) fail("{}: a FRACTIONAL segmentation, expected BINARY", path);
  Uint16 rows = 0, columns = 0;
  seg->getData()->findAndGetUint16(DCM_Rows, rows);
  seg->getData()->findAndGetUint16(DCM_Columns, columns);
  if (rows == 0 || columns == 0) fail("{}: Rows or Columns missing", path);
  double spacing = 0;
  const PlaneGeometry plane = seg_plane(*seg, spacing, path);
  const std::vector<SegFrame> frames = read_frames(*seg, rows, columns, path);
  if (spacing <= 0) spacing = 1.0;
  const Grid own = own_grid(frames, plane, spacing, rows, columns, path);
  const Grid grid = options.reference_grid ? *options.reference_grid : own;
  if (grid.shape[0] != columns || grid.shape[1] != rows) {
    fail("{}: frames of {} x {} pixels, the reference grid's slices {} x {}", path, rows, columns, grid.shape[1], grid.shape[0]);
  }
  if (!torch::allclose(own.affine.slice(1, 0, 2), grid.affine.slice(1, 0, 2), 1e-4, 1e-4)) {
    fail("{}: its pixel spacing or orientation differs from the reference grid's", path);
  }
  const auto indices = slice_indices(frames, grid.affine, grid.shape[2], path);
  torch::Tensor labels = torch::zeros({grid.shape[0], grid.shape[1], grid.shape[2]}, torch::kInt32);
  for (size_t f = 0; f < frames.size(); ++f) {
    torch::Tensor slice = labels.select(2, indices[f]);
    const torch::Tensor mask = frames[f].mask.t();
    const int64_t overlap = (mask & slice.ne(0) & slice.ne(frames[f].segment)).sum().item<int64_t>();
    if (overlap > 0) fail("{}: segment {} overlaps another at {} voxels; repux's label maps hold one label per voxel", path, frames[f].segment, overlap);
    slice.masked_fill_(mask, frames[f].segment);
  }
  Volume volume;
  volume.data = labels.to(torch::kFloat32);
  volume.affine = grid.affine.clone();
  volume.label_names = segment_labels(*seg);
  volume.sample_type = volume.label_names.size() <= 256 ? SampleType::UInt8 : SampleType::Int16;
  volume.description = "DICOM SEG";
  return volume;
}

}  // namespace repux
