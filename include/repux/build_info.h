#pragma once
// What this build of repux is: its version, the commit it was built from and the options it was
// built with. `repux --version` prints it; a bug report should quote it.
#include <string>

namespace repux {

struct BuildInfo {
  std::string version;     // the project's version (CMake's project(VERSION))
  std::string git_commit;  // abbreviated hash, "+dirty" when built with uncommitted changes; "unknown" outside git
  std::string libtorch;    // the LibTorch version compiled against
  bool cuda = false;       // GPU kernels and devices
  bool nccl = false;       // the nccl backend of data-parallel training
  bool plplot = false;     // training-curve plots
  bool dicom = false;      // DICOM series and SEG (DCMTK)
};

BuildInfo build_info();

// "repux 0.1.0 (commit abc123, LibTorch 1.13.1, CUDA off, NCCL off, PLplot on, DICOM on)"
std::string build_description();

}  // namespace repux
