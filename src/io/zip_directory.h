#pragma once
// A zip archive's central directory, checked before LibTorch's zip reader (miniz) reads a record:
// miniz reserves the size a record claims, so a 1 KB .pth claiming 4 GB would reserve 4 GB before
// failing. Private to src/io/.
#include <cstdint>
#include <string>
#include <vector>

namespace repux::zip {

struct Entry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
};

// The entries of the archive at `path` (zip64 included); an error naming the file when the directory
// cannot be found or read, or when an entry claims more than the file can hold: stored data beyond the
// file's size, or deflated data expanding past deflate's limit (1032:1).
std::vector<Entry> checked_entries(const std::string& path);

}  // namespace repux::zip
