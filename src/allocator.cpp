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

namespace {

constexpr const char* kDecommit = "tcmalloc.aggressive_memory_decommit";
using GetProperty = int (*)(const char*, size_t*);
using SetProperty = int (*)(const char*, size_t);

}  // namespace

ReturnFreedMemory::ReturnFreedMemory() {
  auto* get = reinterpret_cast<GetProperty>(::dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  auto* set = reinterpret_cast<SetProperty>(::dlsym(RTLD_DEFAULT, "MallocExtension_SetNumericProperty"));
  changed_ = get && set && get(kDecommit, &previous_) && set(kDecommit, 1);
}

ReturnFreedMemory::~ReturnFreedMemory() {
  if (!changed_) return;
  if (auto* set = reinterpret_cast<SetProperty>(::dlsym(RTLD_DEFAULT, "MallocExtension_SetNumericProperty"))) set(kDecommit, previous_);
}

}  // namespace repux
