#pragma once
// nnU-Net's own preprocessing and its way back, for models imported from nnU-Net (a recipe with
// Pipeline::NnUNet), in nnU-Net's order (nnunetv2 DefaultPreprocessor.run_case_npy and
// export_prediction_from_logits): crop to the bounding box of the voxels non-zero in any channel,
// normalise each channel (ZScore with use_mask_for_norm over that non-zero mask with its holes
// filled), resample to the configuration's spacing (nnunet_resampling.h). The way back resamples
// the logits to the crop with the probabilities' resampling, applies softmax (or the sigmoid of
// region-based models) and puts the crop back in a background volume. transpose_forward is the
// network's axis order (Plan::network_axes), applied around each window by the predictor.
#include "repux/data/preprocess.h"

namespace repux {

PreparedCase preprocess_as_nnunet(const Volume& image, const PreprocessRecipe& recipe);

// Logits [K, d, h, w] on the preprocessed grid -> probabilities [K, D, H, W] on the image's own grid.
// Outside the crop: the background class with probability 1, or for regions every channel 0.
// With `float16_logits`, the resampled logits are rounded to float16 before the softmax, as nnU-Net's
// export does with its float16 logits. Taken by value: moved in, the logits are let go once resampled.
torch::Tensor restore_as_nnunet(torch::Tensor logits, const PreprocessTrace& trace, const PreprocessRecipe& recipe, bool regions,
                                bool float16_logits = false);

// scipy's binary_fill_holes: the false voxels not connected (6-connectivity) to the border become true.
torch::Tensor fill_holes(const torch::Tensor& mask);

}  // namespace repux
