#pragma once
// NumPy .npy arrays (format 1.0/2.0, little-endian float32, float16, float64, int64, int32, int16,
// uint8): parity checks against other implementations, and the arrays of a case store (mapped).
#include <torch/torch.h>

#include <string>

namespace repux {

torch::Tensor read_npy(const std::string& path);
void write_npy(const torch::Tensor& tensor, const std::string& path);  // atomic

// A read-only memory map of a C-order .npy file. Reading a crop touches only the pages it covers, and
// those pages are file-backed (the kernel may drop them; processes mapping the same file share them),
// so a store of many large cases costs no anonymous memory. The file's size must be exactly what its
// header declares: a truncated or appended-to file is refused with its name.
class MappedNpy {
 public:
  explicit MappedNpy(const std::string& path);
  ~MappedNpy();
  MappedNpy(const MappedNpy&) = delete;
  MappedNpy& operator=(const MappedNpy&) = delete;

  // A view of the mapped data; read it only (the pages are mapped read-only).
  const torch::Tensor& tensor() const { return tensor_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* address_ = nullptr;
  size_t length_ = 0;
  torch::Tensor tensor_;
};

}  // namespace repux
