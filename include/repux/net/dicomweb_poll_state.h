#pragma once
// What `repux serve --dicomweb-poll` knows between polls and across restarts: the series done (their
// results stored), the series that failed (with why), and the instance count each waiting series had at
// the previous poll. Kept in one JSON file in the spool, replaced atomically after every change, so that
// a restart neither loses nor repeats a series. A series is ready when its instance count is the same at
// two polls in a row (nothing arrived in between: the archive has it whole, as the node's quiet period).
#include "repux/net/dicomweb.h"

#include <map>
#include <string>
#include <vector>

namespace repux {

class DicomwebPollState {
 public:
  // Reads `path` when it exists (an error naming it when it is not this state).
  explicit DicomwebPollState(std::string path);
  // Of the series one poll found, those ready to segment; remembers the counts of the others.
  std::vector<DicomwebSeries> ready(const std::vector<DicomwebSeries>& found);
  void done(const std::string& series_uid);
  void failed(const std::string& series_uid, const std::string& reason);
  size_t done_count() const { return done_.size(); }

 private:
  void save() const;
  std::string path_;
  std::map<std::string, long> waiting_;  // series -> instances at the last poll
  std::map<std::string, std::string> done_, failed_;  // series -> when / why
};

}  // namespace repux
