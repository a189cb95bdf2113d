#include "repux/net/event_log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace repux {

void log_event(nlohmann::json event) {
  static std::mutex mutex;
  event["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace repux
