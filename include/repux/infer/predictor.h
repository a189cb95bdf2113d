#pragma once
// predict: replay the model's preprocessing, run the sliding window, map the probabilities back to
// the original grid, take the argmax and return a label volume with the input's exact geometry.
#include "repux/infer/sliding_window.h"
#include "repux/io/volume.h"
#include "repux/nn/autocast.h"
#include "repux/nn/model_file.h"

namespace repux {

struct PredictOptions {
  SlidingWindowOptions window;
  bool keep_probabilities = false;
  Precision precision = Precision::Float32;  // bf16: autocast around the network
};

struct Prediction {
  Volume labels;         // integer labels, input geometry
  Volume probabilities;  // [K, D, H, W] float32, when asked for
};

Prediction predict_volume(LoadedModel& model, const Volume& image, const PredictOptions& options);

}  // namespace repux
