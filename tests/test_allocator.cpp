// The allocator choice must survive build changes: tcmalloc has to be what `malloc` resolves to in the
// test program and in the built `repux` (a link flag dropped by mistake would silently bring back the
// page-fault cost measured in bench/allocator.sh).
#include "repux/allocator.h"
#include "repux/cpu_threads.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>

TEST(Allocator, TcmallocServesMallocInTheTestsAndTheProgram) {
#ifdef REPUX_EXPECT_TCMALLOC
  EXPECT_NE(repux::active_allocator().find("tcmalloc"), std::string::npos) << repux::active_allocator();
  const auto r = repux::test::run_repux("--version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("allocator: libtcmalloc"), std::string::npos) << r.output;
#else
  GTEST_SKIP() << "built with REPUX_TCMALLOC=OFF";
#endif
}

TEST(Allocator, ReportsTheLibraryThatServesMalloc) {
  // Independent of the build: glibc's malloc lives in libc.so.6, anything else in its own library.
  const std::string name = repux::active_allocator();
  EXPECT_TRUE(name.rfind("libc.so", 0) == 0 || name.find("malloc") != std::string::npos) << name;
}

// Every repux program sets its threads through set_cpu_threads: OpenBLAS, where it is LibTorch's BLAS,
// must be left with one thread (its spinning pool competed with LibTorch's; see cpu_threads.h).
TEST(CpuThreads, OpenBlasIsLeftWithOneThread) {
  repux::set_cpu_threads(2);
  const std::string blas = repux::blas_threads_description();
  if (blas.empty()) GTEST_SKIP() << "the BLAS behind libblas.so.3 is not OpenBLAS";
  EXPECT_EQ(blas, "OpenBLAS: 1 thread");
  EXPECT_EQ(at::get_num_threads(), 2);
}
