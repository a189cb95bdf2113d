// NIfTI-1/2 reader, plain and gzip-compressed (chosen by the input's first two bytes, as a user's file
// name would).
#include "fuzz_target.h"
#include "repux/io/nifti.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  return repux::fuzz::run_reader(data, size, gzip ? ".nii.gz" : ".nii", [](const std::string& path) {
    repux::VolumeReadOptions options;
    options.allow_channels = true;
    repux::read_nifti(path, options);
  });
}
