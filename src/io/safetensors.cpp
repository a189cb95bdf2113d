#include "repux/io/safetensors.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace repux {
namespace {

struct DtypeName {
  const char* name;
  torch::ScalarType dtype;
};
constexpr DtypeName kDtypes[] = {{"F32", torch::kFloat32}, {"F64", torch::kFloat64}, {"F16", torch::kFloat16},
                                 {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
                                 {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
                                 {"BOOL", torch::kBool}};

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("{}: file not found or not readable", path);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  uint64_t header_size = 0;
  unsigned char len[8];
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(len), 8)) fail("{}: not a safetensors file (too short)", path);
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (header_size == 0 || header_size > file_size - 8 || header_size > (100u << 20)) {
    fail("{}: not a safetensors file (bad header length)", path);
  }
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception&) {
    fail("{}: not a safetensors file (header is not JSON)", path);
  }
  const uint64_t data_start = 8 + header_size;
  SafetensorsFile out;
  try {
    for (const auto& [name, entry] : j.items()) {
      if (name == "__metadata__") {
        for (const auto& [k, v] : entry.items()) out.metadata[k] = v.get<std::string>();
        continue;
      }
      const std::string dtype_name = entry.at("dtype").get<std::string>();
      const DtypeName* dtype = nullptr;
      for (const auto& d : kDtypes) {
        if (dtype_name == d.name) dtype = &d;
      }
      if (!dtype) fail("{}: tensor '{}' has unsupported dtype {}", path, name, dtype_name);
      const auto shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      // The declared shape is checked against the byte range and the file before anything is allocated.
      unsigned __int128 bytes = c10::elementSize(dtype->dtype);
      for (int64_t s : shape) {
        if (s < 0) fail("{}: tensor '{}' has a negative dimension", path, name);
        bytes = std::min<unsigned __int128>(bytes * static_cast<uint64_t>(s), file_size + 1);
      }
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] - offsets[0] != bytes || offsets[1] > file_size - data_start) {
        fail("{}: tensor '{}' has a byte range that does not fit its shape or the file (truncated?)", path, name);
      }
      auto tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype->dtype));
      in.seekg(static_cast<std::streamoff>(data_start + offsets[0]));
      in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(tensor.nbytes()));
      if (!in) fail("{}: truncated data for tensor '{}'", path, name);
      out.tensors.emplace_back(name, tensor);
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed safetensors header ({})", path, e.what());
  }
  return out;
}

void write_safetensors(const SafetensorsFile& file, const std::string& path) {
  nlohmann::json header = nlohmann::json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    auto cpu = t.detach().to(torch::kCPU).contiguous();
    const DtypeName* dtype = nullptr;
    for (const auto& d : kDtypes) {
      if (cpu.scalar_type() == d.dtype) dtype = &d;
    }
    if (!dtype) fail("cannot write {}: tensor '{}' has unsupported type", path, name);
    header[name] = {{"dtype", dtype->name}, {"shape", cpu.sizes().vec()}, {"data_offsets", {offset, offset + cpu.nbytes()}}};
    offset += cpu.nbytes();
    data.push_back(cpu);
  }
  std::string text = header.dump();
  text += std::string((8 - text.size() % 8) % 8, ' ');
  std::string bytes;
  bytes.reserve(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += text;
  for (const auto& t : data) bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomically(path, bytes);
}

}  // namespace repux
