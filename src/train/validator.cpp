#include "repux/train/validator.h"

#include "repux/eval/metrics.h"

#include <cmath>

namespace repux {

Validator::Validator(ValidationCases cases, const Plan& plan, const torch::Device& device, Precision precision,
                     Communicator* comm)
    : cases_(std::move(cases)), classes_(plan.network.out_channels), settings_(inference_settings(plan)), precision_(precision), comm_(comm) {
  run_.compute_device = device;
  run_.stitch_device = device;
}

ValidationResult Validator::run(Segmenter& net) const {
  torch::NoGradGuard no_grad;
  net->eval();
  const int rank = comm_ ? comm_->rank() : 0, ranks = comm_ ? comm_->size() : 1;
  auto sums = torch::zeros({classes_ - 1}, torch::kFloat64), counts = torch::zeros({classes_ - 1}, torch::kFloat64);
  for (size_t i = static_cast<size_t>(rank); i < cases_.count; i += static_cast<size_t>(ranks)) {
    const PreparedCase c = cases_.load(i);
    const auto logits = sliding_window_inference(c.image.unsqueeze(0), classes_, [&](const torch::Tensor& x) {
      AutocastScope amp(run_.compute_device.type(), precision_);
      return net->forward(x).to(torch::kFloat32);
    }, settings_, run_);
    const auto scored = c.label < classes_;  // all but the store's ignore label (K), when the dataset has one
    const auto prediction = logits[0].argmax(0).cpu().masked_fill(scored.logical_not(), 0);
    for (int64_t cls = 1; cls < classes_; ++cls) {
      const double dice = dice_score(prediction == cls, c.label == cls);
      if (std::isnan(dice)) continue;  // the class is absent from this case
      sums[cls - 1] += dice;
      counts[cls - 1] += 1;
    }
  }
  net->train();
  if (comm_) {
    std::vector<torch::Tensor> t{sums, counts};
    comm_->all_reduce_sum(t);
  }
  ValidationResult result;
  for (int64_t c = 0; c + 1 < classes_; ++c) {
    const double n = counts[c].item<double>();
    result.per_class.push_back(n > 0 ? sums[c].item<double>() / n : std::nan(""));
  }
  result.mean = mean_of_finite(result.per_class);
  return result;
}

}  // namespace repux
