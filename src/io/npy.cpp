#include "repux/io/npy.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/shape_string.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace repux {
namespace {

struct NpyType {
  const char* descr;
  torch::ScalarType dtype;
};
constexpr NpyType kTypes[] = {{"<f4", torch::kFloat32}, {"<f2", torch::kFloat16}, {"<f8", torch::kFloat64}, {"<i8", torch::kInt64},
                              {"<i4", torch::kInt32},   {"<i2", torch::kInt16},   {"|u1", torch::kUInt8}};

}  // namespace

namespace {

// Where an .npy file's array lies and what it holds; every size the header declares is checked
// against the file before anything is allocated.
struct NpyLayout {
  const NpyType* type = nullptr;
  std::vector<int64_t> shape;
  bool fortran = false;
  uint64_t data_start = 0, data_bytes = 0, file_size = 0;
};

NpyLayout read_npy_layout(std::ifstream& in, const std::string& path) {
  NpyLayout layout;
  in.seekg(0, std::ios::end);
  layout.file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail("{}: not a NumPy .npy file", path);
  uint32_t header_len = 0;
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  const int len_size = magic[6] == 1 ? 2 : 4;
  in.read(reinterpret_cast<char*>(len_bytes), len_size);
  for (int i = 0; i < len_size; ++i) header_len |= static_cast<uint32_t>(len_bytes[i]) << (8 * i);
  layout.data_start = 8 + static_cast<uint64_t>(len_size) + header_len;
  if (header_len > (1u << 20) || layout.data_start > layout.file_size) fail("{}: .npy header length {} does not fit the file", path, header_len);
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) fail("{}: truncated .npy header", path);

  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) fail("{}: .npy header has no descr", path);
  const std::string descr = m[1];
  for (const auto& t : kTypes) {
    if (descr == t.descr) layout.type = &t;
  }
  if (!layout.type) fail("{}: .npy dtype '{}' is not supported, expected <f4, <f2, <f8, <i8, <i4, <i2 or |u1", path, descr);
  layout.fortran = std::regex_search(header, std::regex("'fortran_order':\\s*True"));
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) fail("{}: .npy header has no shape", path);
  const std::string dims = m[1];
  if (!std::regex_match(dims, std::regex("\\s*(\\d{1,12}\\s*,\\s*)*(\\d{1,12}\\s*,?)?\\s*"))) {
    fail("{}: .npy shape ({}) is not a tuple of non-negative integers", path, dims);
  }
  const std::regex number("\\d+");
  const uint64_t available = layout.file_size - layout.data_start;
  uint64_t elements = 1;
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    layout.shape.push_back(std::stoll(it->str()));
    const unsigned __int128 product = static_cast<unsigned __int128>(elements) * static_cast<uint64_t>(layout.shape.back());
    elements = static_cast<uint64_t>(std::min<unsigned __int128>(product, available + 1));
  }
  const uint64_t element_size = c10::elementSize(layout.type->dtype);
  if (elements > available / element_size) {
    fail("{}: truncated .npy data (shape {} needs more than the file's {} data bytes)", path, shape_string(layout.shape), available);
  }
  layout.data_bytes = elements * element_size;
  return layout;
}

}  // namespace

torch::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: file not found or not readable", path);
  const NpyLayout layout = read_npy_layout(in, path);
  std::vector<int64_t> file_shape = layout.shape;
  if (layout.fortran) std::reverse(file_shape.begin(), file_shape.end());
  auto tensor = torch::empty(file_shape, torch::TensorOptions().dtype(layout.type->dtype));
  in.seekg(static_cast<std::streamoff>(layout.data_start));
  if (!in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(tensor.nbytes()))) {
    fail("{}: truncated .npy data (expected {} bytes for shape {})", path, tensor.nbytes(), shape_string(layout.shape));
  }
  if (layout.fortran) {
    std::vector<int64_t> reverse(layout.shape.size());
    for (size_t i = 0; i < layout.shape.size(); ++i) reverse[i] = static_cast<int64_t>(layout.shape.size() - 1 - i);
    tensor = tensor.permute(reverse).contiguous();
  }
  return tensor;
}

MappedNpy::MappedNpy(const std::string& path) : path_(path) {
  NpyLayout layout;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("{}: file not found or not readable", path);
    layout = read_npy_layout(in, path);
  }
  if (layout.fortran) fail("{}: a Fortran-order .npy array cannot be mapped, expected C order", path);
  if (layout.data_start + layout.data_bytes != layout.file_size) {
    fail("{}: {} bytes, expected {} for shape {} (truncated or appended to)", path, layout.file_size, layout.data_start + layout.data_bytes,
         shape_string(layout.shape));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open ({})", path, std::strerror(errno));
  length_ = static_cast<size_t>(layout.file_size);
  void* address = length_ > 0 ? ::mmap(nullptr, length_, PROT_READ, MAP_SHARED, fd, 0) : nullptr;
  ::close(fd);
  if (address == MAP_FAILED) fail("{}: cannot be memory-mapped ({})", path, std::strerror(errno));
  address_ = address;
  char* data = static_cast<char*>(address_) + layout.data_start;
  tensor_ = torch::from_blob(length_ > 0 ? data : nullptr, layout.shape, torch::TensorOptions().dtype(layout.type->dtype));
}

MappedNpy::~MappedNpy() {
  if (address_) ::munmap(address_, length_);
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
