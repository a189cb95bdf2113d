// repux model files: safetensors with a JSON description that decides which network gets built.
#include "fuzz_target.h"
#include "repux/model/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return repux::fuzz::run_reader(data, size, ".repux", [](const std::string& path) { repux::load_model(path); });
}
