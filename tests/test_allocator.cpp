// The allocator choice must survive build changes: tcmalloc has to be what `malloc` resolves to in the
// test program and in the built `repux` (a link flag dropped by mistake would silently bring back the
// page-fault cost measured in bench/allocator.sh).
#include "repux/allocator.h"
#include "repux/cpu_threads.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

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

// While a ReturnFreedMemory lives, tcmalloc's own property says it decommits at once; afterwards it is
// back to what it was (read through tcmalloc's C API, not through the class).
TEST(Allocator, ReturnFreedMemoryTurnsDecommitOnForItsScope) {
#ifdef REPUX_EXPECT_TCMALLOC
  using GetProperty = int (*)(const char*, size_t*);
  auto* get = reinterpret_cast<GetProperty>(::dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  ASSERT_NE(get, nullptr);
  size_t before = 7, inside = 7, after = 7;
  ASSERT_TRUE(get("tcmalloc.aggressive_memory_decommit", &before));
  {
    const repux::ReturnFreedMemory scope;
    get("tcmalloc.aggressive_memory_decommit", &inside);
  }
  get("tcmalloc.aggressive_memory_decommit", &after);
  EXPECT_EQ(inside, 1u);
  EXPECT_EQ(after, before);
#else
  GTEST_SKIP() << "built with REPUX_TCMALLOC=OFF";
#endif
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
