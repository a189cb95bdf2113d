#include "repux/train/training_step.h"

#include "repux/ops/compute_type.h"
#include "repux/train/deep_supervision.h"
#include "repux/train/loss.h"

namespace repux {

TrainingStep::TrainingStep(Segmenter net, torch::optim::Optimizer& optimizer, const TrainingStepOptions& options, Communicator* comm)
    : net_(std::move(net)), optimizer_(optimizer), options_(options), comm_(comm) {
  if (comm_) reducer_ = std::make_unique<GradientReducer>(net_->parameters(), *comm_, options_.gradient_sync, options_.gradient_bucket_bytes);
}

TrainingStep::~TrainingStep() = default;

torch::Tensor TrainingStep::loss_of(const torch::Tensor& logits, const torch::Tensor& label) const {
  const auto& regions = options_.regions;
  if (regions.empty()) return dice_ce_loss(logits, label, options_.ignore_top_label);
  const auto kept = options_.ignore_top_label ? (label < regions.label_classes()).unsqueeze(1) : torch::Tensor();
  return dice_bce_loss(logits, region_masks(label, regions, 1), kept);
}

double TrainingStep::run(const torch::Tensor& image, const torch::Tensor& label, std::optional<double> learning_rate) {
  if (learning_rate) {
    for (auto& group : optimizer_.param_groups()) group.options().set_lr(*learning_rate);
  }
  optimizer_.zero_grad();
  torch::Tensor loss;
  {
    AutocastScope amp(image.device().type(), options_.precision);
    std::vector<torch::Tensor> outputs = options_.deep_supervision ? net_->forward_deep(image) : std::vector<torch::Tensor>{net_->forward(image)};
    const auto weights = deep_supervision_weights(outputs.size());
    const auto targets = deep_supervision_targets(label, outputs);
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (weights[i] == 0) continue;
      torch::Tensor logits = is_half_precision(outputs[i].scalar_type()) ? outputs[i].to(torch::kFloat32) : outputs[i];
      const torch::Tensor term = weights[i] * loss_of(logits, targets[i]);
      loss = loss.defined() ? loss + term : term;
    }
  }
  if (reducer_) reducer_->prepare();
  loss.backward();
  if (reducer_) gradient_wait_ = reducer_->finish();
  if (options_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net_->parameters(), options_.grad_clip);
  optimizer_.step();
  double value = loss.item<double>();
  if (comm_) {  // the mean over ranks, i.e. over the global batch
    std::vector<torch::Tensor> sum{torch::tensor({value}, torch::kFloat64)};
    comm_->all_reduce_sum(sum);
    value = sum[0].item<double>() / comm_->size();
  }
  return value;
}

}  // namespace repux
