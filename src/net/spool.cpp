#include "repux/net/spool.h"

#include "repux/error.h"
#include "repux/io/dicom_series.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace repux {
namespace {

uint64_t bytes_below(const fs::path& folder) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// A UID as a folder name: digits and dots only, so nothing from a file can name a path elsewhere.
bool is_uid(const std::string& s) {
  return !s.empty() && s.size() <= 64 && s.find_first_not_of("0123456789.") == std::string::npos && s[0] != '.';
}

}  // namespace

Spool::Spool(std::string root, uint64_t limit_bytes) : root_(std::move(root)), limit_bytes_(limit_bytes) {
  for (const char* sub : {"incoming", "series", "work", "failed"}) fs::create_directories(fs::path(root_) / sub);
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "incoming")) fs::remove_all(e.path());
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "work")) {
    const fs::path back = fs::path(root_) / "series" / e.path().filename();
    if (fs::exists(back)) {
      for (const auto& f : fs::directory_iterator(e.path())) fs::rename(f.path(), back / f.path().filename());
      fs::remove_all(e.path());
    } else {
      fs::rename(e.path(), back);
    }
  }
}

std::string Spool::incoming_file(const std::string& sop_instance_uid) const {
  if (!is_uid(sop_instance_uid)) fail("received an instance whose SOPInstanceUID '{}' is not a UID", sop_instance_uid);
  return (fs::path(root_) / "incoming" / (sop_instance_uid + ".dcm")).string();
}

void Spool::add_received(const std::string& file) {
  std::string series;
  try {
    series = dicom_series_uid(file);
  } catch (const Error&) {
    fs::remove(file);
    throw;
  }
  if (!is_uid(series)) {
    fs::remove(file);
    fail("{}: SeriesInstanceUID '{}' is not a UID", file, series);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  const fs::path folder = fs::path(root_) / "series" / series;
  fs::create_directories(folder);
  fs::rename(file, folder / fs::path(file).filename());
}

std::vector<std::string> Spool::take_quiet_series(std::chrono::seconds quiet) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> taken;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "series")) {
    auto newest = fs::last_write_time(e.path());
    for (const auto& f : fs::directory_iterator(e.path())) newest = std::max(newest, fs::last_write_time(f.path()));
    if (now - newest < quiet) continue;
    const fs::path work = fs::path(root_) / "work" / e.path().filename();
    fs::rename(e.path(), work);
    taken.push_back(work.string());
  }
  return taken;
}

void Spool::finish(const std::string& work_folder) { fs::remove_all(work_folder); }

void Spool::set_aside(const std::string& work_folder) {
  const fs::path target = fs::path(root_) / "failed" / fs::path(work_folder).filename();
  fs::remove_all(target);
  fs::rename(work_folder, target);
}

bool Spool::over_limit() const { return limit_bytes_ > 0 && bytes_below(root_) > limit_bytes_; }

}  // namespace repux
