#pragma once
// Batch normalisation whose batch statistics cover every rank's batch (PyTorch's SyncBatchNorm), so
// that N ranks with batch b train exactly like one process with batch N*b.
#include <torch/torch.h>

#include <vector>

namespace repux {

// What synchronised BatchNorm needs of a data-parallel run: a sum over every process. The network
// knows only this interface; dist/'s Communicator implements it, so nn/ does not depend on dist/.
class BatchStatReducer {
 public:
  virtual ~BatchStatReducer() = default;
  // Sums each tensor in place over every process; all processes call it in the same order.
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
};

// Training-mode forward of `bn` on x [N, C, ...] with mean and variance over all ranks; updates bn's
// running statistics like BatchNorm does. Differentiable: the backward reduces its two per-channel sums
// over the ranks as well. Every rank must call it in the same order.
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm3d& bn, BatchStatReducer& reducer);

}  // namespace repux
