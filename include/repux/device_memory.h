#pragma once
// Peak GPU memory of this process, as torch.cuda.max_memory_allocated reports it (bytes held by live
// tensors at the worst moment, not the allocator's cache). Without CUDA: -1 and a no-op reset.
#include <cstdint>

namespace repux {

int64_t cuda_peak_allocated_bytes(int device = 0);
void reset_cuda_peak(int device = 0);

}  // namespace repux
