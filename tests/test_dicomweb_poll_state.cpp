// The state of `serve --dicomweb-poll`: a series is ready once its instance count held over two polls,
// done and failed series are never ready again, and all of it survives a restart (read back from the
// file).
#include "repux/net/dicomweb_poll_state.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace repux;

namespace {

std::vector<std::string> uids(const std::vector<DicomwebSeries>& series) {
  std::vector<std::string> out;
  for (const auto& s : series) out.push_back(s.series_uid);
  return out;
}

DicomwebSeries series(const std::string& uid, long instances) { return {"1.2", uid, "CT", instances}; }

}  // namespace

TEST(DicomwebPollState, ReadyWhenStableDoneOnceAndKeptAcrossRestarts) {
  repux::test::TempDir dir;
  const std::string path = dir.file("state.json");
  {
    DicomwebPollState state(path);
    EXPECT_TRUE(state.ready({series("1.1", 10), series("1.2", -1)}).empty());  // first sight: wait a poll
    EXPECT_EQ(uids(state.ready({series("1.1", 12), series("1.2", -1)})), std::vector<std::string>{"1.2"});  // 1.1 still arriving
    EXPECT_EQ(uids(state.ready({series("1.1", 12), series("1.2", -1)})), (std::vector<std::string>{"1.1", "1.2"}));
    state.done("1.1");
    state.failed("1.2", "not a volume");
    EXPECT_TRUE(state.ready({series("1.1", 12), series("1.2", -1), series("1.3", 5)}).empty());
  }
  DicomwebPollState restarted(path);
  EXPECT_EQ(restarted.done_count(), 1u);
  EXPECT_EQ(uids(restarted.ready({series("1.1", 12), series("1.2", -1), series("1.3", 5)})), std::vector<std::string>{"1.3"});
}
