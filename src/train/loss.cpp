#include "repux/train/loss.h"

#include "repux/error.h"

namespace repux {
namespace {

// 1 - soft Dice per sample and channel, averaged; probs and onehot [N, K, D, H, W].
torch::Tensor soft_dice(const torch::Tensor& probs, const torch::Tensor& onehot) {
  const std::vector<int64_t> spatial{2, 3, 4};
  const auto intersection = (probs * onehot).sum(spatial);
  const auto denominator = probs.sum(spatial) + onehot.sum(spatial);
  return (1.0 - (2.0 * intersection + 1e-5) / (denominator + 1e-5)).mean();
}

// The same with the one-hot target channels last, [N, D, H, W, K].
torch::Tensor soft_dice_loss(const torch::Tensor& probs, const torch::Tensor& onehot_last) {
  return soft_dice(probs, onehot_last.permute({0, 4, 1, 2, 3}).to(probs.scalar_type()));
}

}  // namespace

torch::Tensor dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& target, bool ignore_top) {
  const int64_t k = logits.size(1), top = ignore_top ? k : k - 1;
  if (target.dim() != 4) fail("loss target must be [N, D, H, W], got {} dimensions", target.dim());
  const auto lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
  if (lo < 0 || hi > top) fail("label value {} is outside 0..{} (the network has {} classes)", hi > top ? hi : lo, top, k);
  namespace F = torch::nn::functional;
  if (!ignore_top) return F::cross_entropy(logits, target) + soft_dice_loss(torch::softmax(logits, 1), torch::one_hot(target, k));
  // The ignored voxels (label k): no cross-entropy term (ignore_index) and out of both sides of the Dice.
  const auto kept = (target < k).unsqueeze(1);
  const auto ce = F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().ignore_index(k));
  const auto onehot = torch::one_hot(target.masked_fill(target == k, 0), k) * kept.squeeze(1).unsqueeze(-1);
  return ce + soft_dice_loss(torch::softmax(logits, 1) * kept, onehot);
}

torch::Tensor dice_bce_loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& kept) {
  if (target.sizes() != logits.sizes()) fail("region loss: the target ({} dimensions) and the logits ({}) differ in shape", target.dim(), logits.dim());
  namespace F = torch::nn::functional;
  const auto t = target.to(logits.scalar_type());
  if (!kept.defined()) return F::binary_cross_entropy_with_logits(logits, t) + soft_dice(torch::sigmoid(logits), t);
  const auto weight = kept.to(logits.scalar_type()).expand_as(logits);
  const auto bce = F::binary_cross_entropy_with_logits(logits, t, F::BinaryCrossEntropyWithLogitsFuncOptions().weight(weight).reduction(torch::kSum)) /
                   weight.sum().clamp_min(1);
  return bce + soft_dice(torch::sigmoid(logits) * weight, t * weight);
}

}  // namespace repux
