#pragma once
// The training checkpoint: what `train --resume` needs to continue exactly where a run stopped
// (raw weights, the optimiser's state, iteration, best validation score). This file and its .cpp are the only
// code that knows the archive's keys. Checkpoints are written in full or not at all.
#include "repux/nn/segmenter.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace repux {

struct TrainingProgress {
  int64_t iteration = 0;       // iterations completed
  double best_dice = -1;       // best mean validation Dice so far (-1: none yet)
  int64_t best_iteration = 0;  // where it was reached
};

void save_checkpoint(const std::string& path, Segmenter& net, torch::optim::Optimizer& optimizer, const TrainingProgress& progress);

// Restores `net` and `optimizer` in place; throws repux::Error naming `path` if the file is missing,
// corrupt, or holds values no run could have written.
TrainingProgress load_checkpoint(const std::string& path, Segmenter& net, torch::optim::Optimizer& optimizer);

}  // namespace repux
