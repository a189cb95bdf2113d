#include "repux/allocator.h"

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <string>

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

void release_free_memory() {
  using Release = void (*)();
  if (auto* release = reinterpret_cast<Release>(::dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"))) release();
}

int64_t peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  int64_t kb = 0;
  while (status >> key) {
    if (key == "VmHWM:") return status >> kb ? kb * 1024 : -1;
    status.ignore(1 << 12, '\n');
  }
  return -1;
}

void reset_peak_resident() { std::ofstream("/proc/self/clear_refs") << "5"; }

}  // namespace repux
