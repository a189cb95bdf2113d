#include "zip_directory.h"

#include "repux/error.h"

#include <algorithm>
#include <fstream>

namespace repux::zip {
namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50, kZip64End = 0x06064b50, kZip64Locator = 0x07064b50, kDirectoryEntry = 0x02014b50;
constexpr uint64_t kMaxDeflateRatio = 1032;

uint64_t little(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

std::string read_at(std::ifstream& in, uint64_t offset, uint64_t size, const std::string& path) {
  std::string bytes(size, '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) fail("{}: truncated zip archive (its directory lies past the end)", path);
  return bytes;
}

struct Directory {
  uint64_t entries = 0, size = 0, offset = 0;
};

Directory find_directory(std::ifstream& in, uint64_t file_size, const std::string& path) {
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535);
  const std::string tail = read_at(in, file_size - tail_size, tail_size, path);
  for (size_t at = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; at-- > 0;) {
    if (little(tail, at, 4) != kEndOfDirectory) continue;
    Directory d{little(tail, at + 10, 2), little(tail, at + 12, 4), little(tail, at + 16, 4)};
    if (d.entries == 0xFFFF || d.size == 0xFFFFFFFF || d.offset == 0xFFFFFFFF) {
      if (at < 20 || little(tail, at - 20, 4) != kZip64Locator) fail("{}: zip64 archive without its zip64 locator", path);
      const uint64_t end64 = little(tail, at - 20 + 8, 8);
      if (end64 > file_size || file_size - end64 < 56) fail("{}: zip64 end record lies past the end of the file", path);
      const std::string record = read_at(in, end64, 56, path);
      if (little(record, 0, 4) != kZip64End) fail("{}: damaged zip64 end record", path);
      d = {little(record, 32, 8), little(record, 40, 8), little(record, 48, 8)};
    }
    if (d.offset > file_size || d.size > file_size - d.offset) fail("{}: the zip directory lies past the end of the file", path);
    return d;
  }
  fail("{}: not a zip archive (no end-of-directory record)", path);
}

// Sizes and offset stored as 0xFFFFFFFF are in the zip64 extra field (id 1), in this order.
void read_zip64_extra(const std::string& extra, Entry& e) {
  for (size_t at = 0; at + 4 <= extra.size();) {
    const uint64_t id = little(extra, at, 2), size = little(extra, at + 2, 2);
    size_t field = at + 4;
    const size_t end = std::min(extra.size(), field + size);
    if (id == 1) {
      for (uint64_t* value : {&e.uncompressed, &e.compressed, &e.local_offset}) {
        if (*value != 0xFFFFFFFF || field + 8 > end) continue;
        *value = little(extra, field, 8);
        field += 8;
      }
    }
    at = end;
  }
}

}  // namespace

std::vector<Entry> checked_entries(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("{}: file not found or not readable", path);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  const Directory d = find_directory(in, file_size, path);
  const std::string dir = read_at(in, d.offset, d.size, path);
  std::vector<Entry> entries;
  for (size_t at = 0; entries.size() < d.entries; ) {
    if (at + 46 > dir.size() || little(dir, at, 4) != kDirectoryEntry) fail("{}: damaged zip directory (entry {})", path, entries.size() + 1);
    const size_t name_size = little(dir, at + 28, 2), extra_size = little(dir, at + 30, 2), comment_size = little(dir, at + 32, 2);
    if (at + 46 + name_size + extra_size + comment_size > dir.size()) fail("{}: damaged zip directory (entry {})", path, entries.size() + 1);
    Entry e{dir.substr(at + 46, name_size), static_cast<uint16_t>(little(dir, at + 10, 2)), little(dir, at + 20, 4), little(dir, at + 24, 4),
            little(dir, at + 42, 4)};
    read_zip64_extra(dir.substr(at + 46 + name_size, extra_size), e);
    const bool fits = e.local_offset <= file_size && e.compressed <= file_size - e.local_offset;
    const bool expands_plausibly = e.method == 0 ? e.uncompressed == e.compressed : e.method == 8 && e.uncompressed / kMaxDeflateRatio <= e.compressed;
    if (!fits || !expands_plausibly) {
      fail("{}: zip record '{}' claims {} bytes ({} stored, method {}) that the {}-byte file cannot hold: a damaged or hostile archive", path,
           e.name, e.uncompressed, e.compressed, e.method, file_size);
    }
    entries.push_back(std::move(e));
    at += 46 + name_size + extra_size + comment_size;
  }
  return entries;
}

}  // namespace repux::zip
