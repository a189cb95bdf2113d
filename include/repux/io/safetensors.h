#pragma once
// safetensors files: an 8-byte little-endian header length, a JSON header (dtype, shape and byte
// range of each tensor, plus a string-to-string "__metadata__" map), then raw little-endian data.
// Simple, safe to read, and read by many other tools; repux model files are safetensors.
#include "repux/io/torch_checkpoint.h"

#include <map>
#include <string>

namespace repux {

struct SafetensorsFile {
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;
};

SafetensorsFile read_safetensors(const std::string& path);
void write_safetensors(const SafetensorsFile& file, const std::string& path);  // atomic

}  // namespace repux
