#include "repux/train/validator.h"

#include "repux/eval/metrics.h"

#include <cmath>

namespace repux {

Validator::Validator(ValidationCases cases, const Plan& plan, const torch::Device& device, Precision precision,
                     Communicator* comm)
    : cases_(std::move(cases)), plan_(resolved(plan)), settings_(inference_settings(plan)), precision_(precision), comm_(comm) {
  run_.compute_device = device;
  run_.stitch_device = device;
}

// The predicted and true mask (bool) of score k: class k + 1 (`decided`: the argmax, already cleared
// where the label is not `scored`), or region k (`decided`: the logits, a sigmoid above 0.5; both masks
// cleared where the label is not `scored`). One at a time: a 104-class case never holds 104 masks.
std::pair<torch::Tensor, torch::Tensor> Validator::masks(const torch::Tensor& decided, const torch::Tensor& label, const torch::Tensor& scored,
                                                         int64_t k) const {
  const auto& regions = plan_.regions;
  if (regions.empty()) return {decided == k + 1, label == k + 1};
  const LabelRegions one{{regions.regions[static_cast<size_t>(k)]}};
  return {(decided[k] > 0).cpu().logical_and(scored), region_masks(label, one)[0].logical_and(scored)};
}

EvaluationSummary Validator::run(Segmenter& net) const {
  torch::NoGradGuard no_grad;
  net->eval();
  const int rank = comm_ ? comm_->rank() : 0, ranks = comm_ ? comm_->size() : 1;
  const int64_t outputs = plan_.network.out_channels, scores = plan_.regions.empty() ? outputs - 1 : outputs;
  auto sums = torch::zeros({scores}, torch::kFloat64), counts = torch::zeros({scores}, torch::kFloat64);
  for (size_t i = static_cast<size_t>(rank); i < cases_.count; i += static_cast<size_t>(ranks)) {
    const PreparedCase c = cases_.load(i);
    const auto logits = sliding_window_inference(c.image.unsqueeze(0), outputs, [&](const torch::Tensor& x) {
      AutocastScope amp(run_.compute_device.type(), precision_);
      return net->forward(x).to(torch::kFloat32);
    }, settings_, run_);
    const auto scored = c.label < label_classes(plan_);  // all but the store's ignore label (K), when the dataset has one
    const auto decided = plan_.regions.empty() ? logits[0].argmax(0).cpu().masked_fill(scored.logical_not(), 0) : logits[0];
    for (int64_t k = 0; k < scores; ++k) {
      const auto [predicted, truth] = masks(decided, c.label, scored, k);
      const double dice = dice_score(predicted, truth);
      if (std::isnan(dice)) continue;  // the class is absent from this case
      sums[k] += dice;
      counts[k] += 1;
    }
  }
  net->train();
  if (comm_) {
    std::vector<torch::Tensor> t{sums, counts};
    comm_->all_reduce_sum(t);
  }
  return dice_summary(sums, counts);
}

// The means of a validation: Dice per score (sum / count of the cases that hold it), NaN elsewhere.
EvaluationSummary Validator::dice_summary(const torch::Tensor& sums, const torch::Tensor& counts) const {
  const double nan = std::nan("");
  EvaluationSummary summary;
  // The resolved Plan names every output (regions too), background first; scores are the rest.
  summary.class_names.assign(plan_.class_names.begin() + 1, plan_.class_names.end());
  std::vector<double> dice;
  for (int64_t c = 0; c < sums.size(0); ++c) {
    const double n = counts[c].item<double>();
    dice.push_back(n > 0 ? sums[c].item<double>() / n : nan);
    summary.mean_per_class.push_back({dice.back(), nan, nan});
  }
  summary.mean = {mean_of_finite(dice), nan, nan};
  return summary;
}

}  // namespace repux
