#pragma once
// Dice + cross-entropy with equal weights : softmax outputs, background included; the Dice
// term is computed per sample and class and averaged (as MONAI's DiceCELoss). For region-based
// labels, Dice + binary cross-entropy over one sigmoid output per region (nnU-Net's DC_and_BCE_loss).
#include <torch/torch.h>

namespace repux {

// logits [N, K, D, H, W]; target [N, D, H, W] int64 in 0..K-1, or 0..K with `ignore_top`: voxels of
// label K (nnU-Net's ignore label, as the case store keeps it) then count in neither term.
torch::Tensor dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& target, bool ignore_top = false);

// logits [N, R, D, H, W]; target [N, R, D, H, W] (0/1, any type); `kept` [N, 1, D, H, W] (bool, or
// undefined: every voxel) marks the voxels scored: the mean binary cross-entropy over those, plus
// 1 - soft Dice of the sigmoids per sample and region, averaged.
torch::Tensor dice_bce_loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& kept = {});

}  // namespace repux
