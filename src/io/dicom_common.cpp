#include "dicom_common.h"

#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <sstream>

namespace repux::dicom {

void initialise() {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::configure(std::getenv("REPUX_DICOM_LOG") ? OFLogger::DEBUG_LOG_LEVEL : OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

namespace {

// FNV-1a over the key, 64 bits, from `basis`: two bases give the 128 bits of a derived UID.
uint64_t fnv1a(const std::string& key, uint64_t basis) {
  uint64_t h = basis;
  for (const unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string derived_uid(const std::string& key) {
  unsigned __int128 n = (static_cast<unsigned __int128>(fnv1a(key, 0xcbf29ce484222325ull)) << 64) | fnv1a(key, 0x84222325cbf29ce4ull);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(n % 10)));
    n /= 10;
  } while (n != 0);
  return "2.25." + digits;
}

bool is_uid(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return "";
  std::string s(value.c_str());
  const auto first = s.find_first_not_of(" \0", 0, 2);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \0", std::string::npos, 2) - first + 1);
}

std::string attribute_name(const DcmTagKey& tag) { return fmt::format("{} {}", DcmTag(tag).getTagName(), tag.toString().c_str()); }

namespace {

// One decimal string value, strictly: the whole text (spaces aside) is a finite number.
std::optional<double> parse_decimal(const std::string& text) {
  const auto first = text.find_first_not_of(' ');
  if (first == std::string::npos) return std::nullopt;
  const std::string trimmed = text.substr(first, text.find_last_not_of(' ') - first + 1);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(trimmed.c_str(), &end);
  if (end != trimmed.c_str() + trimmed.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::vector<std::string> split_values(const std::string& all) {
  std::vector<std::string> values;
  std::string::size_type start = 0;
  while (true) {
    const auto stop = all.find('\\', start);
    values.push_back(all.substr(start, stop == std::string::npos ? std::string::npos : stop - start));
    if (stop == std::string::npos) return values;
    start = stop + 1;
  }
}

}  // namespace

std::vector<double> numbers(DcmItem& item, const DcmTagKey& tag, size_t count, const std::string& file) {
  const std::string all = text(item, tag);
  const auto values = all.empty() ? std::vector<std::string>{} : split_values(all);
  if (values.size() < count) fail("{}: {} is missing or has fewer than {} numbers", file, attribute_name(tag), count);
  std::vector<double> out;
  for (size_t i = 0; i < count; ++i) {
    const auto v = parse_decimal(values[i]);
    if (!v) fail("{}: {} value '{}' is not a finite decimal number", file, attribute_name(tag), values[i]);
    out.push_back(*v);
  }
  return out;
}

std::optional<double> optional_number(DcmItem& item, const DcmTagKey& tag, const std::string& file) {
  const std::string all = text(item, tag);
  if (all.empty()) return std::nullopt;
  const auto v = all.find('\\') == std::string::npos ? parse_decimal(all) : std::nullopt;
  if (!v) fail("{}: {} '{}' is not one finite decimal number", file, attribute_name(tag), all);
  return v;
}

Uint16 required_ushort(DcmItem& item, const DcmTagKey& tag, const std::string& file) {
  Uint16 value = 0;
  if (item.findAndGetUint16(tag, value).bad()) fail("{}: {} is missing", file, attribute_name(tag));
  return value;
}

void check_spacing(double spacing, const std::string& file, const std::string& what) {
  if (!spacing_in_bounds(spacing)) {
    fail("{}: {} {:.6g} mm is out of range, expected {:g} to {:g} mm", file, what, spacing, kMinSpacingMm, kMaxSpacingMm);
  }
}

void check_position(const std::array<double, 3>& p, const std::string& file, const std::string& what) {
  for (double c : p) {
    if (!(std::abs(c) <= kMaxCoordinateMm)) {
      fail("{}: {} ({:.6g}, {:.6g}, {:.6g}) lies beyond {:g} mm of the origin", file, what, p[0], p[1], p[2], kMaxCoordinateMm);
    }
  }
}

void check_orientation(const std::array<double, 3>& row, const std::array<double, 3>& column, const std::string& file) {
  if (std::abs(std::sqrt(dot(row, row)) - 1) > 1e-3 || std::abs(std::sqrt(dot(column, column)) - 1) > 1e-3 || std::abs(dot(row, column)) > 1e-3) {
    fail("{}: ImageOrientationPatient is not two orthogonal unit vectors", file);
  }
}

torch::Tensor affine_from_lps(const std::array<double, 3>& row_cosines, const std::array<double, 3>& column_cosines,
                              double column_spacing, double row_spacing, const std::array<double, 3>& slice_step,
                              const std::array<double, 3>& origin) {
  torch::Tensor a = torch::eye(4, torch::kFloat64);
  auto m = a.accessor<double, 2>();
  for (int r = 0; r < 3; ++r) {
    const double sign = r < 2 ? -1.0 : 1.0;  // LPS -> RAS
    m[r][0] = sign * row_cosines[r] * column_spacing;
    m[r][1] = sign * column_cosines[r] * row_spacing;
    m[r][2] = sign * slice_step[r];
    m[r][3] = sign * origin[r];
  }
  return a;
}

std::array<double, 3> cross(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

double dot(const std::array<double, 3>& a, const std::array<double, 3>& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

const DicomSeriesDetails& derived_object_source(const Volume& labels, const std::string& path, const char* what) {
  const DicomSeriesDetails* source = dicom_series_details(labels);
  if (!source) {
    fail("cannot write {}: {} refers to its source series, and these labels did not come from one (predict on a DICOM series, or "
         "repux convert --reference SERIES)", path, what);
  }
  if (labels.data.dim() != 3) fail("cannot write {}: {} holds one label map, got {} channels", path, what, labels.channels());
  const auto slices = labels.spatial_shape()[2];
  if (static_cast<int64_t>(source->sop_instance_uids.size()) != slices) {
    fail("cannot write {}: the labels have {} slices, their source series {}", path, slices, source->sop_instance_uids.size());
  }
  return *source;
}

torch::Tensor labels_on_slices(const torch::Tensor& labels, int64_t classes) {
  const int64_t slices = labels.size(2);
  const torch::Tensor present = torch::zeros({classes, slices}, torch::kBool);
  for (int64_t s = 0; s < slices; ++s) {
    const torch::Tensor counts = torch::bincount(labels.select(2, s).flatten(), {}, classes);
    present.select(1, s).copy_(counts > 0);
  }
  return present;
}

}  // namespace repux::dicom
