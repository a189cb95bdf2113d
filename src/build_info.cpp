#include "repux/build_info.h"

#include <fmt/format.h>
#include <torch/version.h>

// Written by CMake into the build tree (src/build_version.cpp.in).
namespace repux::generated {
extern const char* const kVersion;
extern const char* const kGitCommit;
}  // namespace repux::generated

namespace repux {

BuildInfo build_info() {
  BuildInfo info;
  info.version = generated::kVersion;
  info.git_commit = generated::kGitCommit;
  info.libtorch = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#ifdef REPUX_WITH_CUDA
  info.cuda = true;
#endif
#ifdef REPUX_WITH_NCCL
  info.nccl = true;
#endif
#ifdef REPUX_HAVE_PLPLOT
  info.plplot = true;
#endif
#ifdef REPUX_HAVE_DICOM
  info.dicom = true;
#endif
  return info;
}

std::string build_description() {
  const BuildInfo info = build_info();
  const auto on_off = [](bool on) { return on ? "on" : "off"; };
  return fmt::format("repux {} (commit {}, LibTorch {}, CUDA {}, NCCL {}, PLplot {}, DICOM {})", info.version, info.git_commit, info.libtorch,
                     on_off(info.cuda), on_off(info.nccl), on_off(info.plplot), on_off(info.dicom));
}

}  // namespace repux
