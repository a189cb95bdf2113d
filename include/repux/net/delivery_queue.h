#pragma once
// The results a DICOM node owes its destination, kept in a folder (the spool's outgoing/) until they
// are delivered: a destination that is down, or a network blip, delays a SEG but never loses it.
//   outgoing/<key>.dcm   the SEG (made durable before the series it came from is removed)
//   outgoing/<key>.json  its delivery state: when it was queued, attempts, when to try next, last error
// Each failed attempt doubles the wait (first_retry, 2x, 4x ... at most max_retry); a SEG still
// undelivered `give_up_after` after it was queued goes to failed/<key>/ with the reason. The state
// survives restarts: a node started again carries on where the last one stopped.
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace repux {

struct RetryPolicy {
  std::chrono::seconds first_retry{10}, max_retry{600}, give_up_after{std::chrono::hours(24)};
};

// One attempt's outcome, as the event log reports it.
struct DeliveryAttempt {
  std::string key, file, error;  // error empty: delivered
  int attempt = 0;
  bool given_up = false;
  double next_in_seconds = 0;
  double seconds = 0;  // the attempt's duration
};

class DeliveryQueue {
 public:
  // `folder` (outgoing/) and where SEGs that are given up go (failed/); both must exist.
  DeliveryQueue(std::string folder, std::string failed_folder, RetryPolicy policy);

  // Moves `file` (on the same file system) into the queue as `key` (a UID), made durable.
  void add(const std::string& file, const std::string& key);
  // Tries every SEG that is due with `send` (which throws on failure); returns what happened.
  std::vector<DeliveryAttempt> deliver_due(const std::function<void(const std::string& file)>& send);
  // SEGs waiting (for tests and the log).
  size_t waiting() const;

 private:
  std::string folder_, failed_;
  RetryPolicy policy_;
  mutable std::mutex mutex_;  // add() runs on the segmenting thread, deliver_due() on the delivering one
};

}  // namespace repux
