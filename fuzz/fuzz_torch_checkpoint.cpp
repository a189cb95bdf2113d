// torch.save zip archives and the pickle subset they hold (official checkpoints for `repux import`).
#include "fuzz_target.h"
#include "repux/io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return repux::fuzz::run_reader(data, size, ".pth", [](const std::string& path) { repux::read_torch_state_dict(path); });
}
