#pragma once
// What a training recipe (repux/model/training_recipe.h) means in numbers: the optimiser it builds,
// the settings it implies where the user gave none, and the sampler it trains with.
#include "repux/data/sampler.h"
#include "repux/model/plan.h"
#include "repux/train/lr_schedule.h"

#include <torch/torch.h>

#include <memory>
#include <vector>

namespace repux {

// The settings a recipe implies: repux's are TrainOptions' own defaults; nnU-Net's are its trainer's
// (lr 1e-2 with poly decay and no warm-up, weight decay 3e-5, validation every epoch of 250
// iterations, a third of the crops on foreground, mirroring along every axis).
struct RecipeDefaults {
  double learning_rate, weight_decay;
  Schedule schedule;
  int64_t warmup, validate_every;
  double foreground_ratio;
  std::vector<int64_t> flip_axes;
};
RecipeDefaults recipe_defaults(Recipe recipe);

// repux: AdamW (betas 0.9, 0.999, eps 1e-8, decoupled weight decay); nnunet: SGD with Nesterov
// momentum 0.99 and L2 weight decay, as nnU-Net's trainer.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(Recipe recipe, const std::vector<torch::Tensor>& parameters, double learning_rate,
                                                        double weight_decay);

// The sampler of a plan's recipe: `base` (crops, foreground ratio, flips) with the plan's foreground
// sampling and the recipe's augmentation set (nnunet: in-plane rotation on anisotropic patches, as
// nnU-Net decides it from the plan's spacing and patch).
SamplerOptions recipe_sampler(const Plan& plan, SamplerOptions base);

}  // namespace repux
