// The allocator choice must survive build changes: tcmalloc has to be what `malloc` resolves to in the
// test program and in the built `repux` (a link flag dropped by mistake would silently bring back the
// page-fault cost measured in bench/allocator.sh).
#include "repux/allocator.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>

TEST(Allocator, TcmallocServesMallocInTheTestsAndTheProgram) {
#ifdef REPUX_EXPECT_TCMALLOC
  EXPECT_NE(repux::active_allocator().find("tcmalloc"), std::string::npos) << repux::active_allocator();
  const auto r = repux::test::run_repux("--version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("allocator libtcmalloc"), std::string::npos) << r.output;
#else
  GTEST_SKIP() << "built with REPUX_TCMALLOC=OFF";
#endif
}

TEST(Allocator, ReportsTheLibraryThatServesMalloc) {
  // Independent of the build: glibc's malloc lives in libc.so.6, anything else in its own library.
  const std::string name = repux::active_allocator();
  EXPECT_TRUE(name.rfind("libc.so", 0) == 0 || name.find("malloc") != std::string::npos) << name;
}
