#pragma once
// Batch normalisation whose batch statistics cover every rank's batch (PyTorch's SyncBatchNorm), so
// that N ranks with batch b train exactly like one process with batch N*b.
#include "repux/dist/communicator.h"

#include <torch/torch.h>

namespace repux {

// Training-mode forward of `bn` on x [N, C, ...] with mean and variance over all ranks; updates bn's
// running statistics like BatchNorm does. Differentiable: the backward reduces its two per-channel sums
// over the ranks as well. Every rank must call it in the same order.
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm3d& bn, Communicator& comm);

}  // namespace repux
