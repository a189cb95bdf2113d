#include "repux/device_memory.h"

#ifdef REPUX_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace repux {

#ifdef REPUX_WITH_CUDA
int64_t cuda_peak_allocated_bytes(int device) {
  namespace alloc = c10::cuda::CUDACachingAllocator;
  const auto stats = alloc::getDeviceStats(device);
  return stats.allocated_bytes[static_cast<size_t>(alloc::StatType::AGGREGATE)].peak;
}
void reset_cuda_peak(int device) { c10::cuda::CUDACachingAllocator::resetPeakStats(device); }
#else
int64_t cuda_peak_allocated_bytes(int) { return -1; }
void reset_cuda_peak(int) {}
#endif

}  // namespace repux
