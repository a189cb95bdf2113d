#pragma once
// How a model was (or is to be) trained, part of its Plan so that a run folder and a model file say
// it: the recipe (optimiser, schedule and augmentation set), how foreground crops are centred, and
// whether the loss supervises the decoder's coarser outputs too. The numbers each recipe implies
// (learning rate, schedule, ...) are the trainer's (repux/train/recipe.h).
#include "repux/data/sampler.h"
#include "repux/enum_names.h"

#include <nlohmann/json.hpp>

namespace repux {

// repux: AdamW, Dice + CE, repux's augmentations (shift, small rotation and scaling, flips on request).
// nnunet: nnU-Net's (SGD with Nesterov momentum 0.99, lr 1e-2 with poly decay, weight decay 3e-5,
// a third of the crops on foreground, its augmentation set with mirroring).
enum class Recipe { Repux, NnUNet };
template <>
struct EnumNames<Recipe> {
  static constexpr const char* what = "training recipe";
  static constexpr std::pair<Recipe, const char*> table[] = {{Recipe::Repux, "repux"}, {Recipe::NnUNet, "nnunet"}};
};

struct TrainingRecipe {
  Recipe recipe = Recipe::Repux;
  ForegroundSampling foreground_sampling = ForegroundSampling::ClassUniform;
  bool deep_supervision = false;  // the loss on every decoder output (networks that have them)
  bool operator==(const TrainingRecipe& o) const {
    return recipe == o.recipe && foreground_sampling == o.foreground_sampling && deep_supervision == o.deep_supervision;
  }
};

nlohmann::json to_json(const TrainingRecipe& r);
// Missing keys keep their defaults; unknown keys and names are errors.
TrainingRecipe training_recipe_from_json(const nlohmann::json& j);

}  // namespace repux
