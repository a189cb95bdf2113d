#include "repux/io/npy.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/shape_string.h"

#include <cstring>
#include <fstream>
#include <regex>

namespace repux {
namespace {

struct NpyType {
  const char* descr;
  torch::ScalarType dtype;
};
constexpr NpyType kTypes[] = {{"<f4", torch::kFloat32}, {"<f8", torch::kFloat64}, {"<i8", torch::kInt64},
                              {"<i4", torch::kInt32},   {"|u1", torch::kUInt8}};

}  // namespace

torch::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("{}: file not found or not readable", path);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail("{}: not a NumPy .npy file", path);
  uint32_t header_len = 0;
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  const int len_size = magic[6] == 1 ? 2 : 4;
  in.read(reinterpret_cast<char*>(len_bytes), len_size);
  for (int i = 0; i < len_size; ++i) header_len |= static_cast<uint32_t>(len_bytes[i]) << (8 * i);
  // Sizes declared by the file are checked against the file before anything is allocated.
  const uint64_t data_start = 8 + static_cast<uint64_t>(len_size) + header_len;
  if (header_len > (1u << 20) || data_start > file_size) fail("{}: .npy header length {} does not fit the file", path, header_len);
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) fail("{}: truncated .npy header", path);

  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) fail("{}: .npy header has no descr", path);
  const std::string descr = m[1];
  const NpyType* type = nullptr;
  for (const auto& t : kTypes) {
    if (descr == t.descr) type = &t;
  }
  if (!type) fail("{}: .npy dtype '{}' is not supported, expected <f4, <f8, <i8, <i4 or |u1", path, descr);
  const bool fortran = std::regex_search(header, std::regex("'fortran_order':\\s*True"));
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) fail("{}: .npy header has no shape", path);
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  if (!std::regex_match(dims, std::regex("\\s*(\\d{1,12}\\s*,\\s*)*(\\d{1,12}\\s*,?)?\\s*"))) {
    fail("{}: .npy shape ({}) is not a tuple of non-negative integers", path, dims);
  }
  const std::regex number("\\d+");
  uint64_t elements = 1;
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    shape.push_back(std::stoll(it->str()));
    const unsigned __int128 product = static_cast<unsigned __int128>(elements) * static_cast<uint64_t>(shape.back());
    elements = static_cast<uint64_t>(std::min<unsigned __int128>(product, file_size + 1));
  }
  const uint64_t element_size = c10::elementSize(type->dtype);
  if (elements > (file_size - data_start) / element_size) {
    fail("{}: truncated .npy data (shape {} needs more than the file's {} data bytes)", path, shape_string(shape), file_size - data_start);
  }
  std::vector<int64_t> file_shape = shape;
  if (fortran) std::reverse(file_shape.begin(), file_shape.end());
  auto tensor = torch::empty(file_shape, torch::TensorOptions().dtype(type->dtype));
  if (!in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(tensor.nbytes()))) {
    fail("{}: truncated .npy data (expected {} bytes for shape {})", path, tensor.nbytes(), shape_string(shape));
  }
  if (fortran) {
    std::vector<int64_t> reverse(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) reverse[i] = static_cast<int64_t>(shape.size() - 1 - i);
    tensor = tensor.permute(reverse).contiguous();
  }
  return tensor;
}

void write_npy(const torch::Tensor& tensor, const std::string& path) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  const NpyType* type = nullptr;
  for (const auto& k : kTypes) {
    if (k.dtype == t.scalar_type()) type = &k;
  }
  if (!type) fail("cannot write {}: tensors of type {} are not supported in .npy", path, c10::toString(t.scalar_type()));
  std::string shape;
  for (auto s : t.sizes()) shape += std::to_string(s) + ", ";
  if (t.dim() > 1) shape.resize(shape.size() - 2);
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", type->descr, shape);
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  const uint16_t len = static_cast<uint16_t>(header.size());
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(len & 0xff);
  bytes += static_cast<char>(len >> 8);
  bytes += header;
  bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomically(path, bytes);
}

}  // namespace repux
