#pragma once
// One optimisation step, as the trainer runs it and as the tests call it: forward under autocast,
// Dice + CE loss (Dice + BCE per region for region-based labels; in float32 when the forward ran in bf16;
// on every decoder output with deep supervision), backward, gradients averaged over the
// ranks of a data-parallel run, optional clipping of the gradient norm, the optimiser's step.
#include "repux/data/label_regions.h"
#include "repux/dist/communicator.h"
#include "repux/dist/gradient_reducer.h"
#include "repux/nn/autocast.h"
#include "repux/nn/segmenter.h"

#include <torch/torch.h>

#include <memory>
#include <optional>

namespace repux {

struct TrainingStepOptions {
  Precision precision = Precision::Float32;
  double grad_clip = 0;  // maximum gradient norm; 0: off
  int64_t gradient_bucket_bytes = 25 * 1024 * 1024;  // flat buckets of the gradient all-reduce
  GradientSync gradient_sync = GradientSync::Overlapped;  // all-reduce during backward, or after it
  bool ignore_top_label = false;  // label K (the number of classes) is ignored by the loss
  LabelRegions regions;           // non-empty: sigmoid outputs, one per region (K: regions.label_classes())
  bool deep_supervision = false;  // the loss on every decoder output (repux/train/deep_supervision.h)
};

class TrainingStep {
 public:
  // `comm` is null for a single process.
  TrainingStep(Segmenter net, torch::optim::Optimizer& optimizer, const TrainingStepOptions& options, Communicator* comm = nullptr);
  ~TrainingStep();

  // image [B, C, D, H, W] and label [B, D, H, W] on the network's device. Sets the learning rate of
  // every parameter group when `learning_rate` is given. Returns the loss, averaged over the ranks.
  double run(const torch::Tensor& image, const torch::Tensor& label, std::optional<double> learning_rate = std::nullopt);

  // Seconds the last run() waited on the gradient all-reduce after backward (0 for one process).
  double gradient_wait_seconds() const { return gradient_wait_; }
  // Gradient buckets of the last run() whose all-reduce started during backward (0: none or one process).
  size_t buckets_started_during_backward() const { return reducer_ ? reducer_->started_during_backward() : 0; }

 private:
  torch::Tensor loss_of(const torch::Tensor& logits, const torch::Tensor& label) const;

  Segmenter net_;
  torch::optim::Optimizer& optimizer_;
  TrainingStepOptions options_;
  Communicator* comm_;
  std::unique_ptr<GradientReducer> reducer_;
  double gradient_wait_ = 0;
};

}  // namespace repux
