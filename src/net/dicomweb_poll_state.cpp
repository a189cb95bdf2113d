#include "repux/net/dicomweb_poll_state.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/json_file.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>

namespace repux {

DicomwebPollState::DicomwebPollState(std::string path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  const nlohmann::json j = read_json_file(path_);
  try {
    waiting_ = j.at("waiting").get<std::map<std::string, long>>();
    done_ = j.at("done").get<std::map<std::string, std::string>>();
    failed_ = j.at("failed").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not the state of a DICOMweb poll ({})", path_, first_line(e.what()));
  }
}

std::vector<DicomwebSeries> DicomwebPollState::ready(const std::vector<DicomwebSeries>& found) {
  std::vector<DicomwebSeries> ready;
  std::map<std::string, long> waiting;
  for (const auto& s : found) {
    if (done_.count(s.series_uid) || failed_.count(s.series_uid)) continue;
    const auto before = waiting_.find(s.series_uid);
    if (before != waiting_.end() && before->second == s.instances) {
      ready.push_back(s);
    } else {
      waiting[s.series_uid] = s.instances;
    }
  }
  for (const auto& s : ready) waiting[s.series_uid] = s.instances;  // until done() or failed()
  if (waiting != waiting_) {
    waiting_ = std::move(waiting);
    save();
  }
  return ready;
}

void DicomwebPollState::done(const std::string& series_uid) {
  waiting_.erase(series_uid);
  done_[series_uid] = std::to_string(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  save();
}

void DicomwebPollState::failed(const std::string& series_uid, const std::string& reason) {
  waiting_.erase(series_uid);
  failed_[series_uid] = reason;
  save();
}

void DicomwebPollState::save() const {
  const nlohmann::json j = {{"waiting", waiting_}, {"done", done_}, {"failed", failed_}};
  write_file_atomically(path_, j.dump(1) + "\n");
}

}  // namespace repux
