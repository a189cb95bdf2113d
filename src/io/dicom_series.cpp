#include "repux/io/dicom_series.h"

#include "dicom_common.h"
#include "repux/io/geometry.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

namespace fs = std::filesystem;

namespace repux {
namespace {

using Vec3 = std::array<double, 3>;

// How one slice's stored integers become values, read strictly from its header (PS3.3 C.7.6.3).
struct PixelFormat {
  Uint16 allocated = 0, stored = 0, high_bit = 0, representation = 0;
  std::optional<double> slope, intercept;  // absent: 1 and 0, allowed only when no slice of the series has them
};

// What one file says of itself, read without its pixel data.
struct SliceHeader {
  std::string file, series_uid, study_uid, frame_of_reference_uid, modality, description, sop_class_uid, sop_instance_uid;
  bool has_geometry = false;  // pixel data, a position and an orientation: one slice of a volume
  int64_t frames = 1, rows = 0, columns = 0;
  Vec3 position{}, row_cosines{}, column_cosines{};
  double row_spacing = 0, column_spacing = 0, thickness = 0, spacing_between = 0;
  PixelFormat pixels;
  std::string pixel_problem;  // why `pixels` could not be read; an error only if this series is chosen
};

Vec3 vec3(const std::vector<double>& v, size_t first) { return {v[first], v[first + 1], v[first + 2]}; }
double norm(const Vec3& v) { return std::sqrt(dicom::dot(v, v)); }
Vec3 minus(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3 scaled(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }

std::vector<std::string> files_below(const std::string& folder) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) fail("{}: cannot list the folder ({})", folder, ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail("{}: cannot list the folder ({})", folder, ec.message());
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every attribute that changes a value, required and checked: a missing or malformed one is an error
// naming the file and the attribute, never a default.
PixelFormat pixel_format(DcmDataset& ds, const std::string& file) {
  const Uint16 samples = dicom::required_ushort(ds, DCM_SamplesPerPixel, file);
  if (samples != 1) fail("{}: {} samples per pixel (colour), expected 1 (a greyscale CT or MR slice)", file, samples);
  const std::string photometric = dicom::text(ds, DCM_PhotometricInterpretation);
  if (photometric != "MONOCHROME2" && photometric != "MONOCHROME1") {
    fail("{}: {} '{}', expected MONOCHROME2 or MONOCHROME1", file, dicom::attribute_name(DCM_PhotometricInterpretation), photometric);
  }
  PixelFormat f;
  f.allocated = dicom::required_ushort(ds, DCM_BitsAllocated, file);
  if (f.allocated != 8 && f.allocated != 16) fail("{}: {} {}, expected 8 or 16", file, dicom::attribute_name(DCM_BitsAllocated), f.allocated);
  f.stored = dicom::required_ushort(ds, DCM_BitsStored, file);
  if (f.stored == 0 || f.stored > f.allocated) {
    fail("{}: {} {}, expected 1 to BitsAllocated ({})", file, dicom::attribute_name(DCM_BitsStored), f.stored, f.allocated);
  }
  f.high_bit = dicom::required_ushort(ds, DCM_HighBit, file);
  if (f.high_bit + 1 < f.stored || f.high_bit >= f.allocated) {
    fail("{}: {} {}, expected {} to {} for BitsStored {}", file, dicom::attribute_name(DCM_HighBit), f.high_bit, f.stored - 1, f.allocated - 1,
         f.stored);
  }
  f.representation = dicom::required_ushort(ds, DCM_PixelRepresentation, file);
  if (f.representation > 1) {
    fail("{}: {} {}, expected 0 (unsigned) or 1 (signed)", file, dicom::attribute_name(DCM_PixelRepresentation), f.representation);
  }
  f.slope = dicom::optional_number(ds, DCM_RescaleSlope, file);
  f.intercept = dicom::optional_number(ds, DCM_RescaleIntercept, file);
  if (f.slope && *f.slope == 0) fail("{}: {} is 0, which would erase every value", file, dicom::attribute_name(DCM_RescaleSlope));
  return f;
}

std::optional<SliceHeader> read_header(const std::string& file) {
  if (!has_dicom_marker(file)) return std::nullopt;
  DcmFileFormat ff;
  // Elements longer than 4 KiB (the pixel data) are left in the file.
  const OFCondition status = ff.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_fileOnly);
  if (status.bad()) fail("{}: not a readable DICOM file ({})", file, status.text());
  OFString media_class;
  ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, media_class);
  if (media_class == UID_MediaStorageDirectoryStorage) return std::nullopt;  // a DICOMDIR
  DcmDataset& ds = *ff.getDataset();
  SliceHeader h;
  h.file = file;
  h.series_uid = dicom::text(ds, DCM_SeriesInstanceUID);
  h.study_uid = dicom::text(ds, DCM_StudyInstanceUID);
  h.frame_of_reference_uid = dicom::text(ds, DCM_FrameOfReferenceUID);
  h.modality = dicom::text(ds, DCM_Modality);
  h.description = dicom::text(ds, DCM_SeriesDescription);
  h.sop_class_uid = dicom::text(ds, DCM_SOPClassUID);
  h.sop_instance_uid = dicom::text(ds, DCM_SOPInstanceUID);
  Sint32 frames = 1;
  if (ds.findAndGetSint32(DCM_NumberOfFrames, frames).good()) h.frames = frames;
  h.has_geometry = ds.tagExists(DCM_PixelData) && ds.tagExists(DCM_ImagePositionPatient) && ds.tagExists(DCM_ImageOrientationPatient);
  if (!h.has_geometry) return h;
  Uint16 rows = 0, columns = 0;
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, columns).bad() || rows == 0 || columns == 0) {
    fail("{}: Rows or Columns missing or zero", file);
  }
  h.rows = rows;
  h.columns = columns;
  h.position = vec3(dicom::numbers(ds, DCM_ImagePositionPatient, 3, file), 0);
  dicom::check_position(h.position, file, "ImagePositionPatient");
  const auto orientation = dicom::numbers(ds, DCM_ImageOrientationPatient, 6, file);
  h.row_cosines = vec3(orientation, 0);
  h.column_cosines = vec3(orientation, 3);
  dicom::check_orientation(h.row_cosines, h.column_cosines, file);
  const auto spacing = dicom::numbers(ds, DCM_PixelSpacing, 2, file);
  h.row_spacing = spacing[0];
  h.column_spacing = spacing[1];
  dicom::check_spacing(h.row_spacing, file, "PixelSpacing (rows)");
  dicom::check_spacing(h.column_spacing, file, "PixelSpacing (columns)");
  // Used only for a single slice: out-of-range values are left unused there too.
  const auto in_range = [](std::optional<double> v) { return v && dicom::spacing_in_bounds(*v) ? *v : 0.0; };
  h.thickness = in_range(dicom::optional_number(ds, DCM_SliceThickness, file));
  h.spacing_between = in_range(dicom::optional_number(ds, DCM_SpacingBetweenSlices, file));
  try {
    h.pixels = pixel_format(ds, file);
  } catch (const Error& e) {
    h.pixel_problem = e.what();
  }
  return h;
}

// Candidate series by name: the SeriesInstanceUID, or, where slices of different frames of reference or
// studies share one UID (two scans under one UID), UID#FrameOfReferenceUID (#StudyInstanceUID added
// when that alone differs): never merged into one volume.
using SeriesMap = std::map<std::string, std::vector<SliceHeader>>;

SeriesMap split_shared_uids(std::map<std::string, std::vector<SliceHeader>> by_uid) {
  SeriesMap series;
  for (auto& [uid, slices] : by_uid) {
    std::map<std::pair<std::string, std::string>, std::vector<SliceHeader>> scans;  // by (frame of reference, study)
    for (auto& h : slices) scans[{h.frame_of_reference_uid, h.study_uid}].push_back(std::move(h));
    if (scans.size() == 1) {
      series[uid] = std::move(scans.begin()->second);
      continue;
    }
    std::map<std::string, int> per_frame_of_reference;
    for (const auto& [key, part] : scans) ++per_frame_of_reference[key.first];
    for (auto& [key, part] : scans) {
      series[uid + "#" + key.first + (per_frame_of_reference[key.first] > 1 ? "#" + key.second : "")] = std::move(part);
    }
  }
  return series;
}

SeriesMap scan_folder(const std::string& folder) {
  std::map<std::string, std::vector<SliceHeader>> by_uid;
  for (const auto& file : files_below(folder)) {
    auto h = read_header(file);
    if (h) by_uid[h->series_uid].push_back(*h);
  }
  return split_shared_uids(std::move(by_uid));
}

bool is_ct_or_mr(const std::vector<SliceHeader>& slices) {
  const std::string& m = slices.front().modality;
  return (m == "CT" || m == "MR") &&
         std::any_of(slices.begin(), slices.end(), [](const SliceHeader& h) { return h.has_geometry || h.frames > 1; });
}

std::string describe(const DicomSeriesSummary& s) {
  return fmt::format("{} ({}, '{}', {} file(s))", s.uid, s.modality, s.description, s.files);
}

std::vector<DicomSeriesSummary> summaries(const SeriesMap& series) {
  std::vector<DicomSeriesSummary> out;
  for (const auto& [uid, slices] : series) out.push_back({uid, slices.front().modality, slices.front().description, slices.size()});
  return out;
}

// "uid (CT, 'desc', 120 file(s)); ..." for the series `keep` accepts.
template <typename Keep>
std::string listed(const SeriesMap& series, Keep keep) {
  std::string text;
  for (const auto& s : summaries(series)) {
    if (keep(series.at(s.uid))) text += (text.empty() ? "" : "; ") + describe(s);
  }
  return text;
}

const std::vector<SliceHeader>& choose_series(const SeriesMap& series, const std::string& folder, const std::string& wanted) {
  const auto any = [](const std::vector<SliceHeader>&) { return true; };
  if (series.empty()) fail("{}: holds no DICOM files (none with the DICM marker)", folder);
  if (!wanted.empty()) {
    const auto it = series.find(wanted);
    if (it != series.end()) return it->second;
    const auto scans = [&](const std::vector<SliceHeader>& s) { return s.front().series_uid == wanted; };
    if (std::any_of(series.begin(), series.end(), [&](const auto& s) { return scans(s.second); })) {
      fail("{}: series {} holds several scans under one SeriesInstanceUID (different frames of reference or studies), never merged; "
           "choose one with --series: {}",
           folder, wanted, listed(series, scans));
    }
    fail("{}: no series {} here; the folder holds {}", folder, wanted, listed(series, any));
  }
  const auto candidates = std::count_if(series.begin(), series.end(), [](const auto& s) { return is_ct_or_mr(s.second); });
  if (candidates == 0) fail("{}: no CT or MR image series; it holds {} (choose one with --series UID)", folder, listed(series, any));
  if (candidates > 1) fail("{}: {} CT/MR series, choose one with --series UID: {}", folder, candidates, listed(series, is_ct_or_mr));
  return std::find_if(series.begin(), series.end(), [](const auto& s) { return is_ct_or_mr(s.second); })->second;
}

// Rescale attributes present on every slice or on none (then values are the stored integers), and
// on every CT slice (Type 1 in the CT Image module): a slice without them beside slices with them
// would silently take intercept 0, hundreds of HU off its neighbours.
void check_rescale(const std::vector<SliceHeader>& slices) {
  const bool ct = slices.front().modality == "CT";
  for (const auto& [tag, get] : {std::pair{DCM_RescaleIntercept, &PixelFormat::intercept}, std::pair{DCM_RescaleSlope, &PixelFormat::slope}}) {
    const auto with = std::find_if(slices.begin(), slices.end(), [get = get](const SliceHeader& h) { return (h.pixels.*get).has_value(); });
    const auto without = std::find_if(slices.begin(), slices.end(), [get = get](const SliceHeader& h) { return !(h.pixels.*get).has_value(); });
    if (without == slices.end()) continue;
    if (with != slices.end()) fail("{}: {} is missing or empty, but {} has one: refusing to guess its values", without->file, dicom::attribute_name(tag), with->file);
    if (ct) fail("{}: {} is missing or empty, and a CT slice needs it to give Hounsfield units", without->file, dicom::attribute_name(tag));
  }
}

// Every slice one frame, of one size, pixel spacing and orientation, with readable pixel attributes.
void check_alike(const std::vector<SliceHeader>& slices) {
  const SliceHeader& a = slices.front();
  for (const auto& b : slices) {
    if (b.frames > 1) fail("{}: a multi-frame object ({} frames) is not supported, expected one slice per file", b.file, b.frames);
    if (!b.has_geometry) fail("{}: not an image slice (no pixel data, ImagePositionPatient or ImageOrientationPatient)", b.file);
    if (!b.pixel_problem.empty()) throw Error(b.pixel_problem);
    if (b.rows != a.rows || b.columns != a.columns) {
      fail("{}: {} x {} pixels, but {} has {} x {}: mixed sizes in one series", b.file, b.rows, b.columns, a.file, a.rows, a.columns);
    }
    if (std::abs(b.row_spacing - a.row_spacing) > 1e-4 * a.row_spacing || std::abs(b.column_spacing - a.column_spacing) > 1e-4 * a.column_spacing) {
      fail("{}: PixelSpacing differs from {}'s: mixed pixel spacings in one series", b.file, a.file);
    }
    if (norm(minus(b.row_cosines, a.row_cosines)) > 1e-4 || norm(minus(b.column_cosines, a.column_cosines)) > 1e-4) {
      fail("{}: ImageOrientationPatient differs from {}'s: mixed orientations in one series", b.file, a.file);
    }
  }
  check_rescale(slices);
}

// The step from one slice to the next, after the slices are sorted along the normal; every gap checked.
Vec3 slice_step(const std::vector<SliceHeader>& slices, const Vec3& normal) {
  const SliceHeader& first = slices.front();
  if (slices.size() == 1) {
    const double spacing = first.spacing_between > 0 ? first.spacing_between : first.thickness > 0 ? first.thickness : 1.0;
    return scaled(normal, spacing);
  }
  std::vector<double> gaps;
  for (size_t s = 1; s < slices.size(); ++s) gaps.push_back(dicom::dot(minus(slices[s].position, slices[s - 1].position), normal));
  std::vector<double> sorted = gaps;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double spacing = sorted[sorted.size() / 2];
  const double tolerance = std::max(0.01 * spacing, 0.01);
  for (size_t s = 0; s < gaps.size(); ++s) {
    const auto& a = slices[s];
    const auto& b = slices[s + 1];
    if (gaps[s] < tolerance) fail("{} and {}: two slices at the same position ({:.4g} mm along the normal)", a.file, b.file, dicom::dot(a.position, normal));
    if (spacing <= 0.01) fail("{}: slice spacing {:.4g} mm, expected a positive spacing", a.file, spacing);
    const double ratio = gaps[s] / spacing;
    if (std::abs(ratio - std::round(ratio)) < 0.1 && std::round(ratio) >= 2) {
      fail("{} and {}: {} slice(s) missing between them (gap {:.4g} mm, spacing elsewhere {:.4g} mm)", a.file, b.file,
           std::lround(ratio) - 1, gaps[s], spacing);
    }
    if (std::abs(gaps[s] - spacing) > tolerance) {
      fail("{} and {}: slice spacing {:.4g} mm, elsewhere {:.4g} mm: the spacing is not uniform", a.file, b.file, gaps[s], spacing);
    }
  }
  const Vec3 step = scaled(minus(slices.back().position, first.position), 1.0 / static_cast<double>(slices.size() - 1));
  for (size_t s = 0; s < slices.size(); ++s) {
    const Vec3 expected{first.position[0] + step[0] * s, first.position[1] + step[1] * s, first.position[2] + step[2] * s};
    if (norm(minus(slices[s].position, expected)) > tolerance) {
      fail("{}: ImagePositionPatient lies {:.4g} mm off the line through the first and last slice", slices[s].file,
           norm(minus(slices[s].position, expected)));
    }
  }
  return step;
}

// One slice's values, [rows, columns] float32: stored integers (any transfer syntax DCMTK decodes),
// masked to BitsStored, sign-extended when signed, then RescaleSlope x stored + RescaleIntercept.
struct SlicePixels {
  torch::Tensor values;
  double slope = 1, intercept = 0;
  int64_t stored_min = 0, stored_max = 0;
};

SlicePixels read_pixels(const SliceHeader& h) {
  DcmFileFormat ff;
  const OFCondition status = ff.loadFile(h.file.c_str());
  if (status.bad()) fail("{}: cannot read the DICOM file ({})", h.file, status.text());
  DcmDataset& ds = *ff.getDataset();
  const PixelFormat& f = h.pixels;
  const DcmXfer original(ds.getOriginalXfer());
  if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit)) {
    fail("{}: its pixel data ({}) cannot be decoded", h.file, original.getXferName());
  }
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || !element) fail("{}: no pixel data", h.file);
  const int64_t count = h.rows * h.columns;
  const size_t bytes = static_cast<size_t>(count) * (f.allocated / 8);
  // Exactly one frame's bytes, plus the pad byte DICOM adds to an odd length: anything else means the
  // attributes describe other pixels than those stored (e.g. BitsAllocated 8 on 16-bit data).
  if (element->getLength() != bytes && element->getLength() != bytes + bytes % 2) {
    fail("{}: pixel data holds {} bytes, expected {} ({} x {} x {} bits, {}): truncated, or the attributes do not describe the data", h.file,
         element->getLength(), bytes, h.rows, h.columns, f.allocated, dicom::attribute_name(DCM_BitsAllocated));
  }
  torch::Tensor raw;
  if (f.allocated == 16) {
    Uint16* p = nullptr;
    if (element->getUint16Array(p).bad() || !p) fail("{}: cannot read its 16-bit pixel data", h.file);
    raw = torch::from_blob(p, {h.rows, h.columns}, torch::kInt16).to(torch::kInt32).bitwise_and(0xFFFF);
  } else {
    Uint8* p = nullptr;
    if (element->getUint8Array(p).bad() || !p) fail("{}: cannot read its 8-bit pixel data", h.file);
    raw = torch::from_blob(p, {h.rows, h.columns}, torch::kUInt8).to(torch::kInt32);
  }
  const int shift = f.high_bit + 1 - f.stored;
  if (shift > 0) raw = torch::div(raw, 1 << shift, "floor");
  raw = raw.bitwise_and((1 << f.stored) - 1);
  if (f.representation == 1) raw = torch::where(raw >= (1 << (f.stored - 1)), raw - (1 << f.stored), raw);
  SlicePixels out;
  out.slope = f.slope.value_or(1.0);
  out.intercept = f.intercept.value_or(0.0);
  out.stored_min = raw.min().item<int64_t>();
  out.stored_max = raw.max().item<int64_t>();
  out.values = (raw.to(torch::kFloat64) * out.slope + out.intercept).to(torch::kFloat32);
  return out;
}

// The stored type that holds every slice's integers, when the slices share one scaling.
void set_sample_type(Volume& volume, const std::vector<SlicePixels>& slices) {
  int64_t lo = 0, hi = 0;
  bool shared = true;
  for (const auto& s : slices) {
    lo = std::min(lo, s.stored_min);
    hi = std::max(hi, s.stored_max);
    shared = shared && s.slope == slices[0].slope && s.intercept == slices[0].intercept;
  }
  volume.sample_type = !shared ? SampleType::Float32 : lo >= -32768 && hi <= 32767 ? SampleType::Int16 : lo >= 0 && hi <= 65535 ? SampleType::UInt16 : SampleType::Float32;
  if (shared) volume.scaling = {slices[0].slope, slices[0].intercept};
}

Volume build_volume(std::vector<SliceHeader> slices, const std::string& folder, const VolumeReadOptions& options) {
  check_alike(slices);
  const SliceHeader& a = slices.front();
  const Vec3 normal = dicom::cross(a.row_cosines, a.column_cosines);
  std::sort(slices.begin(), slices.end(),
            [&](const SliceHeader& x, const SliceHeader& y) { return dicom::dot(x.position, normal) < dicom::dot(y.position, normal); });
  const Vec3 step = slice_step(slices, normal);
  const double along = dicom::dot(step, normal);
  const double shear = norm(minus(step, scaled(normal, along))) / along;
  const bool tilted = shear > 1e-3;
  if (tilted && options.gantry_tilt != GantryTilt::Resample) {
    fail("{}: gantry tilt of {:.2f} degrees (slices sheared along the normal); --gantry-tilt resample resamples it onto an orthogonal grid",
         folder, std::atan(shear) * 180 / M_PI);
  }
  std::vector<SlicePixels> pixels;
  std::vector<torch::Tensor> planes;
  for (const auto& h : slices) {
    pixels.push_back(read_pixels(h));
    planes.push_back(pixels.back().values.t());  // [columns, rows]: the column index is i
  }
  Volume volume;
  volume.data = torch::stack(planes, 2).contiguous();
  volume.affine = dicom::affine_from_lps(a.row_cosines, a.column_cosines, a.column_spacing, a.row_spacing, step, slices.front().position);
  set_sample_type(volume, pixels);
  if (tilted) {
    const torch::Tensor orthogonal =
        dicom::affine_from_lps(a.row_cosines, a.column_cosines, a.column_spacing, a.row_spacing, scaled(normal, along), slices.front().position);
    volume.data = resample_to_grid(volume.data, volume.affine, orthogonal, volume.spatial_shape(), Interpolation::Linear);
    volume.affine = orthogonal;
    volume.sample_type = SampleType::Float32;
    volume.scaling = {};
  }
  volume.description = a.description;
  DicomSeriesDetails details{a.study_uid, a.series_uid, a.frame_of_reference_uid, a.modality, a.description, a.sop_class_uid, {}, a.file, tilted};
  for (const auto& h : slices) details.sop_instance_uids.push_back(h.sop_instance_uid);
  volume.format_details = details;
  return volume;
}

}  // namespace

bool has_dicom_marker(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  char head[132] = {};
  return in.read(head, sizeof(head)) && std::string(head + 128, 4) == "DICM";
}

std::string dicom_series_uid(const std::string& file) {
  dicom::initialise();
  const auto h = read_header(file);
  if (!h || h->series_uid.empty()) fail("{}: not a DICOM image with a SeriesInstanceUID", file);
  return h->series_uid;
}

std::vector<DicomSeriesSummary> list_dicom_series(const std::string& folder) {
  dicom::initialise();
  return summaries(scan_folder(folder));
}

Volume read_dicom_series(const std::string& path, const VolumeReadOptions& options) {
  dicom::initialise();
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: not found", path);
  const fs::path parent = fs::path(path).parent_path();
  const std::string folder = fs::is_directory(path, ec) ? path : parent.empty() ? "." : parent.string();
  Volume volume = build_volume(choose_series(scan_folder(folder), folder, options.dicom_series), folder, options);
  if (!options.allow_nonfinite && !torch::isfinite(volume.data).all().item<bool>()) fail("{}: the series has non-finite values", folder);
  return volume;
}

}  // namespace repux
