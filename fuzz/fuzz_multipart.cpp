// The multipart/related reader of DICOMweb answers (WADO-RS). The input is a Content-Type line, then
// the body, fed in chunks whose sizes the first body byte chooses, so that a delimiter split across
// two reads is exercised as the network splits it. Seeds: Orthanc's own WADO-RS answers
// (fuzz/make_multipart_seeds.sh).
#include "repux/error.h"
#include "repux/io/multipart.h"

#include <algorithm>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  if (newline == std::string::npos || newline + 1 >= input.size()) return 0;
  try {
    repux::MultipartLimits limits;
    limits.max_part = 1 << 20;
    size_t bytes = 0;
    repux::MultipartHandlers h;
    h.begin_part = [](const std::map<std::string, std::string>& headers) { (void)headers.size(); };
    h.part_data = [&bytes](const char*, size_t n) { bytes += n; };
    h.end_part = [] {};
    repux::MultipartReader reader(repux::multipart_boundary(input.substr(0, newline)), h, "fuzz input", limits);
    const size_t chunk = 1 + static_cast<uint8_t>(input[newline + 1]) % 97;
    for (size_t at = newline + 1; at < input.size(); at += chunk) reader.feed(input.data() + at, std::min(chunk, input.size() - at));
    reader.finish();
    if (bytes > input.size()) __builtin_trap();  // content cannot exceed what was fed
  } catch (const repux::Error&) {
  }
  return 0;
}
