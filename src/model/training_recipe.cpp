#include "repux/model/training_recipe.h"

#include "repux/io/json_file.h"

namespace repux {

nlohmann::json to_json(const TrainingRecipe& r) {
  return {{"recipe", enum_name(r.recipe)}, {"foreground_sampling", enum_name(r.foreground_sampling)}, {"deep_supervision", r.deep_supervision}};
}

TrainingRecipe training_recipe_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("expected a JSON object, got {}", j.type_name());
  check_known_keys(j, {"recipe", "foreground_sampling", "deep_supervision"}, "the training recipe");
  TrainingRecipe r;
  if (j.contains("recipe")) r.recipe = enum_from_name<Recipe>(j["recipe"].get<std::string>());
  if (j.contains("foreground_sampling")) r.foreground_sampling = enum_from_name<ForegroundSampling>(j["foreground_sampling"].get<std::string>());
  r.deep_supervision = j.value("deep_supervision", r.deep_supervision);
  return r;
}

}  // namespace repux
