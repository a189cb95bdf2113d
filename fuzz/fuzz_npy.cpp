// NumPy .npy arrays (`repux forward` inputs and test fixtures).
#include "fuzz_target.h"
#include "repux/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return repux::fuzz::run_reader(data, size, ".npy", [](const std::string& path) { repux::read_npy(path); });
}
