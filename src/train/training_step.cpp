#include "repux/train/training_step.h"

#include "repux/ops/compute_type.h"
#include "repux/train/loss.h"

namespace repux {

TrainingStep::TrainingStep(Segmenter net, torch::optim::Optimizer& optimizer, const TrainingStepOptions& options, Communicator* comm)
    : net_(std::move(net)), optimizer_(optimizer), options_(options), comm_(comm) {}

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
    torch::Tensor logits = net_->forward(image);
    if (is_half_precision(logits.scalar_type())) logits = logits.to(torch::kFloat32);
    loss = loss_of(logits, label);
  }
  loss.backward();
  if (comm_) average_gradients(net_->parameters(), *comm_, options_.gradient_bucket_bytes);
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
