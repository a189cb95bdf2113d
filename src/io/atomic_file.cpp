#include "repux/io/atomic_file.h"

#include "repux/error.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace repux {
namespace {

std::string full_extension(const std::string& filename) {
  for (const char* ext : {".nii.gz", ".tar.gz"}) {
    const std::string e(ext);
    if (filename.size() > e.size() && filename.compare(filename.size() - e.size(), e.size(), e) == 0) {
      return e;
    }
  }
  return fs::path(filename).extension().string();
}

}  // namespace

void ensure_writable(const std::string& destination) {
  const fs::path dest(destination);
  fs::path dir = dest.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("cannot write {}: directory {} does not exist", destination, dir.string());
  if (::access(dir.c_str(), W_OK) != 0) fail("cannot write {}: directory {} is not writable", destination, dir.string());
  if (fs::is_directory(dest, ec)) fail("cannot write {}: it is a directory", destination);
}

AtomicFile::AtomicFile(std::string destination) : destination_(std::move(destination)) {
  ensure_writable(destination_);
  const fs::path dest(destination_);
  fs::path dir = dest.parent_path();
  if (dir.empty()) dir = ".";
  static std::atomic<int> counter{0};
  const std::string name = dest.filename().string();
  const std::string ext = full_extension(name);
  const std::string stem = name.substr(0, name.size() - ext.size());
  temporary_ = (dir / ("." + stem + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ext)).string();
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temporary_, ec);
  }
}

void AtomicFile::commit() {
  std::error_code ec;
  if (!fs::exists(temporary_, ec)) fail("cannot write {}: nothing was written", destination_);
  fs::rename(temporary_, destination_, ec);
  if (ec) fail("cannot write {}: {}", destination_, ec.message());
  committed_ = true;
}

}  // namespace repux
