#include "repux/train/loss.h"

#include "repux/error.h"

namespace repux {

torch::Tensor dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  const int64_t k = logits.size(1);
  if (target.dim() != 4) fail("loss target must be [N, D, H, W], got {} dimensions", target.dim());
  const auto lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
  if (lo < 0 || hi >= k) fail("label value {} is outside 0..{} (the network has {} classes)", hi >= k ? hi : lo, k - 1, k);
  auto ce = torch::nn::functional::cross_entropy(logits, target);
  auto probs = torch::softmax(logits, 1);
  auto onehot = torch::one_hot(target, k).permute({0, 4, 1, 2, 3}).to(probs.scalar_type());
  const std::vector<int64_t> spatial{2, 3, 4};
  auto intersection = (probs * onehot).sum(spatial);
  auto denominator = probs.sum(spatial) + onehot.sum(spatial);
  auto dice = 1.0 - (2.0 * intersection + 1e-5) / (denominator + 1e-5);
  return ce + dice.mean();
}

}  // namespace repux
