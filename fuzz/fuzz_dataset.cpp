// Dataset lists (MSD / nnU-Net dataset.json): structure, paths and label names.
#include "fuzz_target.h"
#include "repux/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return repux::fuzz::run_reader(data, size, ".json", [](const std::string& path) { repux::load_dataset(path, "/nonexistent"); });
}
