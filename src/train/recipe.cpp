#include "repux/train/recipe.h"

namespace repux {

RecipeDefaults recipe_defaults(Recipe recipe) {
  if (recipe == Recipe::NnUNet) return {1e-2, 3e-5, Schedule::Poly, 0, 250, 1.0 / 3.0, {0, 1, 2}};
  return {1e-4, 0.01, Schedule::None, 0, 500, 0.5, {}};
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Recipe recipe, const std::vector<torch::Tensor>& parameters, double learning_rate,
                                                        double weight_decay) {
  if (recipe == Recipe::NnUNet) {
    return std::make_unique<torch::optim::SGD>(
        parameters, torch::optim::SGDOptions(learning_rate).momentum(0.99).nesterov(true).weight_decay(weight_decay));
  }
  return std::make_unique<torch::optim::AdamW>(parameters,
                                               torch::optim::AdamWOptions(learning_rate).betas({0.9, 0.999}).eps(1e-8).weight_decay(weight_decay));
}

SamplerOptions recipe_sampler(const Plan& plan, SamplerOptions base) {
  base.foreground_sampling = plan.training.foreground_sampling;
  base.augmentations = plan.training.recipe == Recipe::NnUNet ? Augmentations::NnUNet : Augmentations::Repux;
  if (base.augmentations == Augmentations::NnUNet && plan.preprocessing.spacing) {
    base.in_plane_about = anisotropic_axis(*plan.preprocessing.spacing, plan.patch);
  }
  return base;
}

}  // namespace repux
