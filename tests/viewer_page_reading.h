#pragma once
// Reading back what a viewer page (eval/viewer_page.h) embeds: its window.REPUX_VIEW data, and a layer's
// volume (gzipped NIfTI in base64) decoded to a file and read, for tests that compare it with its source.
#include "repux/io/nifti.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <string>

namespace repux::test {

inline std::string decode_base64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string out;
  int bits = 0, buffer = 0;
  for (char c : text) {
    if (value(c) < 0) break;  // '=' padding
    buffer = ((buffer << 6) | value(c)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// window.REPUX_VIEW of a page.
inline nlohmann::json page_view(const std::string& path) {
  std::ifstream in(path);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  const std::string marker = "window.REPUX_VIEW = ";
  const size_t begin = html.find(marker) + marker.size(), end = html.find(";</script>", begin);
  return nlohmann::json::parse(html.substr(begin, end - begin));
}

// Layer k of a page, written to `file` (.nii.gz) and read back.
inline Volume page_layer(const nlohmann::json& view, size_t k, const std::string& file) {
  std::ofstream(file, std::ios::binary) << decode_base64(view["layers"][k]["base64"].get<std::string>());
  return read_nifti(file);
}

}  // namespace repux::test
