#pragma once
// The spool of a DICOM node: what was received, by series, until its SEG is delivered. Everything
// lives in files on one file system, so a node killed at any moment loses nothing it acknowledged:
//   lock                 held (flock) by the node using the spool; a second node on it refuses to start
//   incoming/            instances being received, under names of our own (never one from the network);
//                        a file here after a crash was never acknowledged: removed at start-up
//   series/<SeriesUID>/  received instances, each made durable (fsync of file and folder) before its
//                        C-STORE is answered. `.open-N` marks an association still delivering to it;
//                        `.interrupted` one that ended without a release, or a node that died meanwhile
//   work/<SeriesUID>/    a series being segmented (after a crash: moved back to series/ and redone)
//   outgoing/            SEGs waiting for delivery (see DeliveryQueue)
//   failed/<SeriesUID>/  a series whose segmentation or delivery failed, with `reason.txt`
// A series is complete when nothing arrived for the quiet period and no association that delivered to
// it is open; an interrupted one waits for its resend (a released association that delivers to it
// clears the mark) and is otherwise taken only after `resend_wait`, reported as received in parts.
// Several threads may receive at once while another takes series; every member is safe to share.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "repux/error.h"

namespace repux {

// An instance the node will not keep: the C-STORE is answered with `status` (PS3.4 B.2.3: 0xA7xx out
// of resources, 0xA9xx data set does not match SOP class, 0xCxxx cannot understand) and the message.
class StoreRefused : public Error {
 public:
  StoreRefused(uint16_t status, const std::string& message) : Error(message), status_(status) {}
  uint16_t status() const { return status_; }

 private:
  uint16_t status_;
};

// What the C-STORE request said it carries: the file received must agree.
struct StoreRequest {
  std::string sop_class_uid, sop_instance_uid;
};

struct QuietSeries {
  std::string folder, uid;
  size_t files = 0;
  bool received_in_parts = false;  // an interrupted delivery that was not resent within resend_wait
};

struct SpoolOptions {
  uint64_t limit_bytes = 0;  // 0: no bound
  std::chrono::seconds resend_wait{600};
};

class Spool {
 public:
  // Takes the spool's lock (an error naming the holder's PID when another node has it), creates the
  // folders and recovers what a killed node left (see above).
  Spool(std::string root, SpoolOptions options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // A new file name in incoming/ for an instance about to be received.
  std::string incoming_file();
  // A received file joins its series for `association` (an id from new_association): checked against
  // the request, made durable, moved. StoreRefused when the node will not keep it (the file removed).
  void add_received(const std::string& file, const StoreRequest& request, uint64_t association);
  uint64_t new_association();
  // The association ended: released (its series may be complete) or not (they are interrupted).
  void association_ended(uint64_t association, bool released);

  // The complete series, moved to work/.
  std::vector<QuietSeries> take_quiet_series(std::chrono::seconds quiet);
  void finish(const std::string& work_folder);  // segmented (its SEG queued): removed
  // Failed: moved to failed/ with the reason.
  void set_aside(const std::string& work_folder, const std::string& reason);
  // Whether the spool holds more than its bound (new associations are then refused).
  bool over_limit() const;
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  SpoolOptions options_;
  int lock_fd_ = -1;
  uint64_t next_file_ = 0, next_association_ = 0;
  std::map<uint64_t, std::set<std::string>> delivering_;  // association -> series it delivered to
  mutable std::mutex mutex_;
};

}  // namespace repux
