#pragma once
// The CPU threads of a repux program: LibTorch's intra-op pool (OpenMP) gets `threads`, and OpenBLAS,
// where it is the BLAS that LibTorch loaded (Debian's libblas.so.3 alternative), gets one. Why:
// OpenBLAS's pthread build keeps its own pool, whose idle workers spin with sched_yield after each
// call; on a 2-core machine they competed with the OpenMP threads for the same cores (10% of the
// forward pass's wall time in system calls). Measured in one session on a 2-core EPYC with
// bench_network: forward 1 x 64^3 2.80-3.10 s vs 3.04-3.19 s, AdamW step 2 x 64^3 24.6 s vs 29.1 s,
// system time 0% vs 9-10%. LibTorch's own parallel loops already split the work over the cores.
#include <functional>
#include <string>

namespace repux {

void set_cpu_threads(int threads);

// LibTorch's parallel loops called from the calling thread run on that thread alone; other threads keep
// their setting. For worker threads (data workers, parallel preprocessing): n workers then use n cores,
// where each would otherwise start a team of all the cores beside the training loop's own.
void run_parallel_loops_on_this_thread_only();

// work(0), ..., work(count - 1) on up to `threads` threads taking items in turn; with several, each runs
// LibTorch's loops on itself (above). after_each() is called under a lock when an item is done. The
// first error stops the threads taking new items and is rethrown (its first line) as repux::Error.
void for_each_on_threads(size_t count, int threads, const std::function<void(size_t)>& work, const std::function<void()>& after_each = {});

// The BLAS's thread count as it reports it ("OpenBLAS: 1 thread"), or "" when it is not OpenBLAS.
std::string blas_threads_description();

}  // namespace repux
