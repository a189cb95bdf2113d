#include "dicom_common.h"

#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

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

std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return "";
  std::string s(value.c_str());
  const auto first = s.find_first_not_of(" \0", 0, 2);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \0", std::string::npos, 2) - first + 1);
}

std::vector<double> numbers(DcmItem& item, const DcmTagKey& tag, size_t count, const std::string& file) {
  std::vector<double> values;
  for (size_t i = 0; i < count; ++i) {
    Float64 v = 0;
    if (item.findAndGetFloat64(tag, v, static_cast<unsigned long>(i)).bad() || !std::isfinite(v)) {
      fail("{}: {} {} is missing or has fewer than {} numbers", file, DcmTag(tag).getTagName(), tag.toString().c_str(), count);
    }
    values.push_back(v);
  }
  return values;
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

}  // namespace repux::dicom
