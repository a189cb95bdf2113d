#include "repux/device_memory.h"

#ifdef REPUX_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace repux {

#ifdef REPUX_WITH_CUDA
int64_t cuda_peak_allocated_bytes(int device) {
  // Index 0 is StatType::AGGREGATE (all pools); the enum moved namespace between LibTorch 1.13 and 2.x.
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  return stats.allocated_bytes[0].peak;
}
void reset_cuda_peak(int device) { c10::cuda::CUDACachingAllocator::resetPeakStats(device); }
#else
int64_t cuda_peak_allocated_bytes(int) { return -1; }
void reset_cuda_peak(int) {}
#endif

}  // namespace repux
