#include "repux/train/deep_supervision.h"

namespace repux {

std::vector<double> deep_supervision_weights(size_t outputs) {
  if (outputs <= 1) return std::vector<double>(outputs, 1.0);
  std::vector<double> w(outputs);
  double sum = 0;
  for (size_t i = 0; i < outputs; ++i) sum += w[i] = i + 1 == outputs ? 0.0 : 1.0 / static_cast<double>(1ULL << i);
  for (double& v : w) v /= sum;
  return w;
}

std::vector<torch::Tensor> deep_supervision_targets(const torch::Tensor& label, const std::vector<torch::Tensor>& outputs) {
  std::vector<torch::Tensor> targets;
  for (const auto& out : outputs) {
    const std::vector<int64_t> size{out.size(2), out.size(3), out.size(4)};
    if (size == label.sizes().slice(1).vec()) {
      targets.push_back(label);
      continue;
    }
    const auto down = torch::_upsample_nearest_exact3d(label.unsqueeze(1).to(torch::kFloat32), size);
    targets.push_back(down.squeeze(1).to(label.scalar_type()));
  }
  return targets;
}

}  // namespace repux
