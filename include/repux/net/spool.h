#pragma once
// The spool of a DICOM node: what was received, by series, until it is segmented. Everything lives in
// files, so a node killed at any moment loses nothing it acknowledged:
//   incoming/            files being received (a file here after a crash was never acknowledged: removed)
//   series/<SeriesUID>/  received instances; a series is complete when nothing arrived for a quiet period
//   work/<SeriesUID>/    a series being segmented (after a crash: moved back to series/ and redone)
//   failed/<SeriesUID>/  a series whose segmentation failed (kept for inspection, counted in the bound)
// Moves are renames within one file system, so a file is always in exactly one of them. One thread may
// receive (incoming_file, add_received) while another segments (take_quiet_series, finish, set_aside).
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace repux {

class Spool {
 public:
  // Creates the folders; recovers what a killed node left (see above).
  Spool(std::string root, uint64_t limit_bytes);

  // Where an instance being received is written.
  std::string incoming_file(const std::string& sop_instance_uid) const;
  // A received file joins its series (read from the file); an unreadable file is removed and reported.
  void add_received(const std::string& file);
  // The series that have been quiet for `quiet`, moved to work/ (their folders returned).
  std::vector<std::string> take_quiet_series(std::chrono::seconds quiet);
  void finish(const std::string& work_folder);      // segmented: removed
  void set_aside(const std::string& work_folder);   // failed: moved to failed/
  // Whether the spool holds more than its bound (new associations are then refused).
  bool over_limit() const;
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  uint64_t limit_bytes_;
  mutable std::mutex mutex_;
};

}  // namespace repux
