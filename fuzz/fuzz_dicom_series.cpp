// The DICOM series reader over several slices: the input is up to 8 DICOM files joined by the marker
// below; each becomes one file of a folder, read as a series (grouping by series and frame of
// reference, per-slice attributes, spacing, rescale, pixel data). The seeds are small series written
// by plastimatch (tools/make_dicom_fuzz_seeds.sh).
#include "fuzz_target.h"
#include "repux/io/dicom_series.h"

#include <filesystem>
#include <fstream>

namespace {

constexpr char kMarker[] = "--REPUX-NEXT-SLICE--";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string folder = repux::fuzz::folder_for_this_process("dicom-series");
  for (const auto& e : std::filesystem::directory_iterator(folder)) std::filesystem::remove(e.path());
  const std::string input(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  for (int k = 0; k < 8 && start <= input.size(); ++k) {
    const size_t stop = std::min(input.find(kMarker, start), input.size());
    std::ofstream(folder + "/slice" + std::to_string(k) + ".dcm", std::ios::binary) << input.substr(start, stop - start);
    start = stop + sizeof(kMarker) - 1;
  }
  return repux::fuzz::run_reader(
      data, 0, ".unused", [](const std::string&) { repux::read_dicom_series(folder); }, folder);
}
