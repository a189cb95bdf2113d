#include "repux/io/atomic_file.h"

#include "repux/error.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
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

void AtomicFile::write(const std::string& bytes) {
  const int fd = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write {}: {}", destination_, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "no space written";
      ::close(fd);
      fail("cannot write {}: {} ({} of {} bytes written)", destination_, why, done, bytes.size());
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) fail("cannot write {}: {}", destination_, std::strerror(errno));
}

void remove_abandoned_temporaries(const std::string& directory, const std::vector<std::string>& destinations) {
  // Names are ".<stem>.tmp<pid>-<n><ext>" (see the constructor).
  static const std::regex temporary(R"(\.(.*)\.tmp([0-9]+)-[0-9]+(.*))");
  const std::set<std::string> wanted(destinations.begin(), destinations.end());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, m, temporary)) continue;
    if (!wanted.empty() && !wanted.count(m[1].str() + m[3].str())) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(m[2].str()));
    if (owner == ::getpid() || ::kill(owner, 0) != 0) fs::remove(entry.path(), ec);
  }
}

void write_file_atomically(const std::string& destination, const std::string& bytes) {
  AtomicFile out(destination);
  out.write(bytes);
  out.commit();
}

void close_checked(FILE* file, const std::string& destination) {
  const bool failed = std::fflush(file) != 0 || std::ferror(file) != 0;
  const int saved = errno;
  if (std::fclose(file) != 0 || failed) fail("cannot write {}: {}", destination, std::strerror(failed ? saved : errno));
}

void make_durable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open to make it durable ({})", path, std::strerror(errno));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) fail("{}: fsync failed ({})", path, std::strerror(error));
}

void AtomicFile::commit() {
  std::error_code ec;
  if (!fs::exists(temporary_, ec)) fail("cannot write {}: nothing was written", destination_);
  fs::rename(temporary_, destination_, ec);
  if (ec) fail("cannot write {}: {}", destination_, ec.message());
  committed_ = true;
}

}  // namespace repux
