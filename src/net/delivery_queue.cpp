#include "repux/net/delivery_queue.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/json_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace repux {
namespace {

double now_seconds() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// The wait after `attempts` failed attempts: first_retry doubled each time, at most max_retry.
double backoff(const RetryPolicy& p, int attempts) {
  double wait = static_cast<double>(p.first_retry.count());
  for (int i = 1; i < attempts && wait < static_cast<double>(p.max_retry.count()); ++i) wait *= 2;
  return std::min(wait, static_cast<double>(p.max_retry.count()));
}

fs::path state_file(const fs::path& seg) { return fs::path(seg).replace_extension(".json"); }

nlohmann::json read_state(const fs::path& seg) {
  try {
    return read_json_file(state_file(seg).string());
  } catch (const Error&) {  // killed between the SEG and its state: a new entry
    return {{"queued", now_seconds()}, {"attempts", 0}, {"next_attempt", 0.0}};
  }
}

}  // namespace

DeliveryQueue::DeliveryQueue(std::string folder, std::string failed_folder, RetryPolicy policy)
    : folder_(std::move(folder)), failed_(std::move(failed_folder)), policy_(policy) {}

void DeliveryQueue::add(const std::string& file, const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const fs::path seg = fs::path(folder_) / (key + ".dcm");
  make_durable(file);
  write_json_file({{"queued", now_seconds()}, {"attempts", 0}, {"next_attempt", 0.0}}, state_file(seg).string());
  fs::rename(file, seg);
  make_durable(folder_);
}

std::vector<DeliveryAttempt> DeliveryQueue::deliver_due(const std::function<void(const std::string& file)>& send) {
  std::vector<std::pair<fs::path, nlohmann::json>> due;  // each SEG's state, read once
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : fs::directory_iterator(folder_)) {
      if (e.path().extension() != ".dcm") continue;
      nlohmann::json state = read_state(e.path());
      if (state.value("next_attempt", 0.0) <= now_seconds()) due.emplace_back(e.path(), std::move(state));
    }
  }
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<DeliveryAttempt> attempts;
  for (auto& [seg, state] : due) {
    DeliveryAttempt a{seg.stem().string(), seg.string(), "", state.value("attempts", 0) + 1};
    const double t0 = now_seconds();
    try {
      send(seg.string());
    } catch (const std::exception& e) {
      a.error = first_line(e.what());
    }
    a.seconds = now_seconds() - t0;
    std::lock_guard<std::mutex> lock(mutex_);
    if (a.error.empty()) {
      fs::remove(seg);
      fs::remove(state_file(seg));
    } else if (now_seconds() - state.value("queued", now_seconds()) >= static_cast<double>(policy_.give_up_after.count())) {
      a.given_up = true;
      const fs::path target = fs::path(failed_) / seg.stem();
      fs::create_directories(target);
      fs::rename(seg, target / "repux_seg.dcm");
      fs::remove(state_file(seg));
      std::ofstream(target / "reason.txt") << "not delivered after " << a.attempt << " attempts: " << a.error << "\n";
    } else {
      a.next_in_seconds = backoff(policy_, a.attempt);
      state["attempts"] = a.attempt;
      state["next_attempt"] = now_seconds() + a.next_in_seconds;
      state["last_error"] = a.error;
      write_json_file(state, state_file(seg).string());
    }
    attempts.push_back(a);
  }
  return attempts;
}

size_t DeliveryQueue::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(folder_)) n += e.path().extension() == ".dcm" ? 1 : 0;
  return n;
}

}  // namespace repux
