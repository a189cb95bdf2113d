#include "repux/allocator.h"

#include <dlfcn.h>

#include <filesystem>

namespace repux {

std::string active_allocator() {
  void* symbol = ::dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  if (!symbol || ::dladdr(symbol, &info) == 0 || !info.dli_fname) return "unknown";
  return std::filesystem::path(info.dli_fname).filename().string();
}

}  // namespace repux
