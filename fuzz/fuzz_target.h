#pragma once
// Shared by the libFuzzer harnesses: each writes the fuzzer's bytes to a file (the readers take paths,
// as the program does) and calls one reader. A repux::Error or LibTorch error is the expected answer to
// bad input; anything else (a crash, a sanitizer report, a large allocation before validation, a hang)
// is a finding. std::bad_alloc is rethrown: it means a size was trusted before it was checked.
#include "repux/error.h"

#include <torch/torch.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <cstdio>
#include <new>
#include <string>

namespace repux::fuzz {

// A folder of this process's own under /tmp ("/tmp/repux-fuzz-NAME-PID"), created once.
inline std::string folder_for_this_process(const std::string& name) {
  const std::string folder = "/tmp/repux-fuzz-" + name + "-" + std::to_string(::getpid());
  std::filesystem::create_directories(folder);
  return folder;
}

inline std::string write_input(const uint8_t* data, size_t size, const std::string& extension, const std::string& directory = "/tmp") {
  const std::string path = directory + "/repux-fuzz-" + std::to_string(::getpid()) + extension;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

template <typename Reader>
int run_reader(const uint8_t* data, size_t size, const std::string& extension, Reader&& read, const std::string& directory = "/tmp") {
  static const bool once = [] {
    torch::set_num_threads(1);
    return true;
  }();
  (void)once;
  const std::string path = write_input(data, size, extension, directory);
  try {
    read(path);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const Error&) {
  } catch (const c10::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}

}  // namespace repux::fuzz
