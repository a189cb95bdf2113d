#include "repux/net/spool.h"

#include "repux/io/atomic_file.h"
#include "repux/io/dicom_toolkit.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace repux {
namespace {

const char* const kInterrupted = ".interrupted";

std::string open_marker(uint64_t association) { return ".open-" + std::to_string(association); }
bool is_open_marker(const std::string& name) { return name.rfind(".open-", 0) == 0; }
bool is_marker(const fs::path& p) { return p.filename().string().front() == '.'; }

uint64_t bytes_below(const fs::path& folder) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// The spool's lock: held for the life of the node (released by the kernel even after kill -9). The
// file names the holder's PID, for the error a second node gives.
int take_lock(const fs::path& root) {
  const fs::path file = root / "lock";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open the spool's lock ({})", file.string(), std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    std::ifstream(file) >> holder;
    ::close(fd);
    fail("spool {} is in use by another repux serve (PID {}); each node needs its own spool", root.string(), holder.empty() ? "unknown" : holder);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd);
    fail("{}: cannot write the spool's lock", file.string());
  }
  return fd;
}

// After a crash every association that was delivering is gone: its series are interrupted.
void mark_interrupted(const fs::path& series) {
  bool open = false;
  for (const auto& f : fs::directory_iterator(series)) {
    if (is_open_marker(f.path().filename().string())) {
      fs::remove(f.path());
      open = true;
    }
  }
  if (open) std::ofstream(series / kInterrupted) << "an association was delivering when the node stopped\n";
}

// Moves the files of `from` into `to` (which exists), then removes `from`.
void merge_into(const fs::path& from, const fs::path& to) {
  for (const auto& f : fs::directory_iterator(from)) fs::rename(f.path(), to / f.path().filename());
  fs::remove_all(from);
}

struct ReceivedInstance {
  std::string sop_class_uid, sop_instance_uid, series_uid;
};

ReceivedInstance read_received(const std::string& file) {
  dicom::initialise();
  DcmFileFormat ff;
  if (ff.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 256).bad()) throw StoreRefused(0xC000, "not a readable DICOM data set");
  DcmDataset& d = *ff.getDataset();
  return {dicom::text(d, DCM_SOPClassUID), dicom::text(d, DCM_SOPInstanceUID), dicom::text(d, DCM_SeriesInstanceUID)};
}

void check_received(const ReceivedInstance& got, const StoreRequest& request) {
  if (got.sop_class_uid != request.sop_class_uid || got.sop_instance_uid != request.sop_instance_uid) {
    throw StoreRefused(0xA900, fmt::format("the data set (SOP class {}, instance {}) does not match the request (SOP class {}, instance {})",
                                           got.sop_class_uid, got.sop_instance_uid, request.sop_class_uid, request.sop_instance_uid));
  }
  if (!dicom::is_uid(got.sop_instance_uid)) throw StoreRefused(0xC000, fmt::format("SOPInstanceUID '{}' is not a valid UID", got.sop_instance_uid));
  if (!dicom::is_uid(got.series_uid)) throw StoreRefused(0xC000, fmt::format("SeriesInstanceUID '{}' is not a valid UID", got.series_uid));
}

// The newest change in a series folder: its files, its markers, the folder itself (a marker removed).
fs::file_time_type newest_change(const fs::path& folder) {
  auto newest = fs::last_write_time(folder);
  for (const auto& f : fs::directory_iterator(folder)) newest = std::max(newest, fs::last_write_time(f.path()));
  return newest;
}

}  // namespace

Spool::Spool(std::string root, SpoolOptions options) : root_(std::move(root)), options_(options) {
  fs::create_directories(root_);
  lock_fd_ = take_lock(root_);
  for (const char* sub : {"incoming", "series", "work", "outgoing", "failed"}) fs::create_directories(fs::path(root_) / sub);
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "incoming")) fs::remove_all(e.path());
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "series")) mark_interrupted(e.path());
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "work")) {
    const fs::path back = fs::path(root_) / "series" / e.path().filename();
    if (fs::exists(back)) {
      merge_into(e.path(), back);
    } else {
      fs::rename(e.path(), back);
    }
    fs::remove(back / "repux_seg.dcm");  // what the node was writing from it (made again)
    fs::remove(back / "repux_rtstruct.dcm");
  }
}

Spool::~Spool() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Spool::incoming_file() {
  std::lock_guard<std::mutex> lock(mutex_);
  return (fs::path(root_) / "incoming" / fmt::format("{}-{}.dcm", ::getpid(), ++next_file_)).string();
}

uint64_t Spool::new_association() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ++next_association_;
}

void Spool::add_received(const std::string& file, const StoreRequest& request, uint64_t association) {
  try {
    const ReceivedInstance got = read_received(file);
    check_received(got, request);
    make_durable(file);
    std::lock_guard<std::mutex> lock(mutex_);
    const fs::path folder = fs::path(root_) / "series" / got.series_uid;
    if (fs::create_directories(folder)) make_durable(folder.parent_path().string());
    if (delivering_[association].insert(got.series_uid).second) std::ofstream(folder / open_marker(association)) << "delivering\n";
    fs::rename(file, folder / (got.sop_instance_uid + ".dcm"));
    make_durable(folder.string());
  } catch (const StoreRefused&) {
    fs::remove(file);
    throw;
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove(file, ignored);
    throw StoreRefused(0xA700, fmt::format("cannot keep the instance: {}", first_line(e.what())));
  }
}

void Spool::association_ended(uint64_t association, bool released) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = delivering_.find(association);
  if (it == delivering_.end()) return;
  for (const auto& uid : it->second) {
    const fs::path folder = fs::path(root_) / "series" / uid;
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) continue;
    if (released) {
      fs::remove(folder / kInterrupted, ec);
    } else {
      std::ofstream(folder / kInterrupted) << "an association ended without a release while delivering\n";
    }
    fs::remove(folder / open_marker(association), ec);
  }
  delivering_.erase(it);
}

std::vector<QuietSeries> Spool::take_quiet_series(std::chrono::seconds quiet) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<QuietSeries> taken;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "series")) {
    QuietSeries s{(fs::path(root_) / "work" / e.path().filename()).string(), e.path().filename().string()};
    bool open = false;
    for (const auto& f : fs::directory_iterator(e.path())) {
      const std::string name = f.path().filename().string();
      open = open || is_open_marker(name);
      s.received_in_parts = s.received_in_parts || name == kInterrupted;
      s.files += is_marker(f.path()) ? 0 : 1;
    }
    if (open || now - newest_change(e.path()) < (s.received_in_parts ? options_.resend_wait : quiet)) continue;
    fs::remove(e.path() / kInterrupted);
    fs::rename(e.path(), s.folder);
    taken.push_back(s);
  }
  return taken;
}

void Spool::finish(const std::string& work_folder) { fs::remove_all(work_folder); }

void Spool::set_aside(const std::string& work_folder, const std::string& reason) {
  const fs::path target = fs::path(root_) / "failed" / fs::path(work_folder).filename();
  fs::remove_all(target);
  fs::rename(work_folder, target);
  std::ofstream(target / "reason.txt") << reason << "\n";
}

bool Spool::over_limit() const { return options_.limit_bytes > 0 && bytes_below(root_) > options_.limit_bytes; }

}  // namespace repux
