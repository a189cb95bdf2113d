// DICOM readers: the input is the one file of a folder, read as a series (headers, then pixel data
// through DCMTK's decoders) and as a SEG (dcmseg's frames and functional groups, then repux's grid).
#include "fuzz_target.h"
#include "repux/io/dicom_seg.h"
#include "repux/io/dicom_series.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string folder = repux::fuzz::folder_for_this_process("dicom");
  return repux::fuzz::run_reader(
      data, size, ".dcm",
      [](const std::string& path) {
        try {
          repux::read_dicom_series(folder);
        } catch (const repux::Error&) {
        }
        repux::read_dicom_seg(path);
      },
      folder);
}
