#pragma once
// Dice + cross-entropy with equal weights : softmax outputs, background included; the Dice
// term is computed per sample and class and averaged (as MONAI's DiceCELoss).
#include <torch/torch.h>

namespace repux {

// logits [N, K, D, H, W]; target [N, D, H, W] int64 in 0..K-1, or 0..K with `ignore_top`: voxels of
// label K (nnU-Net's ignore label, as the case store keeps it) then count in neither term.
torch::Tensor dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& target, bool ignore_top = false);

}  // namespace repux
