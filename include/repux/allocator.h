#pragma once
// Which malloc serves this process. repux links tcmalloc (gperftools, from Debian) because LibTorch
// allocates large CPU tensors afresh for nearly every operation: glibc serves each one with a new
// mmap whose pages are faulted in and zeroed again, which on virtual machines cost as much as the
// arithmetic (see docs/performance.md). tcmalloc keeps and reuses those pages.
#include <cstddef>
#include <cstdint>
#include <string>

namespace repux {

// The shared object that `malloc` resolves to at run time, e.g. "libtcmalloc_minimal.so.4" or
// "libc.so.6" (file name only).
std::string active_allocator();

// While one is alive, tcmalloc hands freed memory back to the system at once (its
// aggressive_memory_decommit), so that a job's peak is what it holds, not that plus the freed spans
// fragmentation keeps: for a TotalSegmentator-sized nnU-Net network on 128^3 windows that is 1.9
// instead of 2.7 GiB, for 1.5x the time (bench/nnunet_predict.sh). Under another allocator: nothing.
class ReturnFreedMemory {
 public:
  ReturnFreedMemory();
  ~ReturnFreedMemory();
  ReturnFreedMemory(const ReturnFreedMemory&) = delete;
  ReturnFreedMemory& operator=(const ReturnFreedMemory&) = delete;

 private:
  size_t previous_ = 0;
  bool changed_ = false;
};

// Hands the allocator's free pages back to the system now (tcmalloc's ReleaseFreeMemory): between the
// stages of a prediction, so that what one stage freed does not stay in the process's resident memory
// under the next. Under another allocator: nothing.
void release_free_memory();

// The process's peak resident memory (VmHWM) in bytes since it started or since the last
// reset_peak_resident() (Linux; -1 where it cannot be read): per-stage peaks for `predict --timings`.
int64_t peak_resident_bytes();
void reset_peak_resident();

}  // namespace repux
