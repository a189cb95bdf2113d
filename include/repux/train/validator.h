#pragma once
// Validation as the trainer runs it: each preprocessed validation case through the sliding window
// with the Plan's inference settings (the ones predict starts from), Dice per class (or region) by eval's
// dice_score, averaged over the cases where the class is present, and the mean over the classes.
// The result is an EvaluationSummary, as `repux evaluate` and the final validation write, holding the
// means only (no per-case rows) and Dice only: HD95 and surface Dice are not computed while training
// and are NaN.
// In a data-parallel run each rank takes every ranks-th case and the sums are reduced. Cases are
// loaded one at a time, so validation holds one case in memory whatever the size of the split.
#include "repux/data/preprocess.h"
#include "repux/dist/communicator.h"
#include "repux/eval/evaluation_summary.h"
#include "repux/infer/sliding_window.h"
#include "repux/model/plan.h"
#include "repux/nn/autocast.h"
#include "repux/nn/segmenter.h"

#include <functional>
#include <vector>

namespace repux {

// The validation cases: how many, and how to load case i (from a store, read when its turn comes).
struct ValidationCases {
  size_t count = 0;
  std::function<PreparedCase(size_t)> load;
};

class Validator {
 public:
  Validator(ValidationCases cases, const Plan& plan, const torch::Device& device, Precision precision,
            Communicator* comm = nullptr);

  // The settings it validates with: the Plan's, which predict starts from too.
  const InferenceSettings& settings() const { return settings_; }
  // Leaves the network in training mode again.
  // mean_per_class: classes 1..K-1 (or the regions), Dice NaN where no case holds the class;
  // mean.dice: over the classes with a value, NaN if none.
  EvaluationSummary run(Segmenter& net) const;

 private:
  EvaluationSummary dice_summary(const torch::Tensor& sums, const torch::Tensor& counts) const;
  std::pair<torch::Tensor, torch::Tensor> masks(const torch::Tensor& decided, const torch::Tensor& label, const torch::Tensor& scored, int64_t k) const;

  ValidationCases cases_;
  Plan plan_;
  InferenceSettings settings_;
  SlidingWindowOptions run_;
  Precision precision_;
  Communicator* comm_;
};

}  // namespace repux
