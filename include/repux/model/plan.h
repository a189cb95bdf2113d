#pragma once
// A model's Plan: everything that defines its data contract, shared by the trainer, validation and
// predict (as nnU-Net's plans are by its trainer and predictor): the network, the preprocessing
// recipe, the patch it was trained on, its class names and its inference defaults. Model files carry
// it; training validates with its inference settings and predict starts from the same ones, so a
// model is selected under the inference mode it is deployed with unless the user overrides it.
// One to_json / plan_from_json pair writes and reads it; every field is checked once, and an error
// names the field.
#include "repux/data/label_regions.h"
#include "repux/data/preprocess.h"
#include "repux/model/inference_settings.h"
#include "repux/model/postprocessing.h"
#include "repux/model/training_recipe.h"
#include "repux/nn/segmenter.h"

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace repux {

struct Plan {
  NetworkConfig network;
  PreprocessRecipe preprocessing;
  std::array<int64_t, 3> patch{96, 96, 96};  // training patch (multiples of 16: the network halves it 4 times)
  std::vector<std::string> class_names;      // one per output class, background first; empty: class1, class2, ...
                                             // (with regions: background, then one per region)
  LabelRegions regions;  // region-based (nnU-Net's): one sigmoid output per region; empty: softmax classes
  InferenceSettings inference;
  Postprocessing postprocessing;
  // The network's axes among the volume's (after preprocessing): network axis n is volume axis
  // network_axes[n]; windows are permuted so before the forward and back after it. Identity for
  // repux's own models; an imported nnU-Net model's transpose_forward after its reader's axis order.
  // Patch, window and mirror axes are in the volume's axes.
  std::array<int64_t, 3> network_axes{0, 1, 2};  // applied to predict's labels; decided by `repux postprocess --determine`
  TrainingRecipe training;  // how the model was trained (plans and models written before it: the defaults)
};

// An error in one field of a Plan; `field` is its JSON path ("inference.overlap"), so that a command
// line can name the option behind it without reading the message.
struct PlanFieldError : Error {
  PlanFieldError(std::string field, const std::string& message) : Error(message), field(std::move(field)) {}
  std::string field;
};

// Fills the defaults (network per architecture, class names, the window from the patch) and checks
// every field; throws PlanFieldError naming the first bad one ("plan field 'inference.overlap': ...").
Plan resolved(const Plan& plan);

// The label values a model's predictions hold: its classes, or with regions the values they paint.
int64_t label_classes(const Plan& plan);
// A name per label value of its predictions (the class names, or the names of the regions painting them).
std::vector<std::string> label_value_names(const Plan& plan);

nlohmann::json to_json(const Plan& plan);
Plan plan_from_json(const nlohmann::json& j);

// The inference settings validation and predict both start from: the plan's own (its window: the
// patch unless set), overlaid with the user's (none for validation).
InferenceSettings inference_settings(const Plan& plan, const InferenceOverrides& user = {});

}  // namespace repux
