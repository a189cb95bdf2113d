// Segments one volume with a repux model file, as `repux predict -m MODEL -i IMAGE -o LABELS` does with
// its defaults: the model's preprocessing and sliding window, labels in the image's exact geometry.
#include <repux/infer/predictor.h>
#include <repux/io/volume_file.h>
#include <repux/model/model_file.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL.repux IMAGE.nii[.gz] LABELS.nii[.gz]\n", argv[0]);
    return 2;
  }
  try {
    repux::LoadedModel model = repux::load_model(argv[1]);
    const repux::Volume image = repux::read_volume(argv[2]);
    const repux::Prediction prediction = repux::predict_volume(model, image, repux::PredictOptions{});
    repux::write_volume(prediction.labels, argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "segment_one: %s\n", e.what());
    return 1;
  }
  return 0;
}
