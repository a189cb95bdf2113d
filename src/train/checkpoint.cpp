#include "repux/train/checkpoint.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/nn/state_dict.h"

#include <cmath>
#include <filesystem>
#include <sstream>

namespace repux {
namespace {

const char* const kModel = "model";
const char* const kOptimizer = "optimizer";
const char* const kIteration = "iteration";
const char* const kBestDice = "best_dice";
const char* const kBestIteration = "best_iteration";

// A fresh tensor for every key: InputArchive::read into a defined tensor reinterprets the stored
// bytes in that tensor's type (a float64 score read into an int64 tensor became 4590139227911367168).
torch::Tensor read_scalar(torch::serialize::InputArchive& archive, const char* key, torch::ScalarType type, const std::string& path) {
  torch::Tensor t;
  archive.read(key, t);
  if (!t.defined() || t.numel() != 1 || t.scalar_type() != type) fail("{}: checkpoint entry '{}' is not a {} scalar", path, key, c10::toString(type));
  return t;
}

}  // namespace

void save_checkpoint(const std::string& path, Segmenter& net, torch::optim::Optimizer& optimizer, const TrainingProgress& progress) {
  torch::serialize::OutputArchive archive, model, optimiser;
  for (const auto& [k, v] : state_dict(net, KernelForm::Raw)) model.write(k, v.detach().cpu());
  optimizer.save(optimiser);
  archive.write(kModel, model);
  archive.write(kOptimizer, optimiser);
  archive.write(kIteration, torch::tensor(progress.iteration, torch::kInt64));
  archive.write(kBestDice, torch::tensor(progress.best_dice, torch::kFloat64));
  archive.write(kBestIteration, torch::tensor(progress.best_iteration, torch::kInt64));
  // Serialised in memory, then written with checked writes: LibTorch's file writer aborts the
  // program when the disk fills up (it throws again from its destructor).
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(path, bytes.str());
}

TrainingProgress load_checkpoint(const std::string& path, Segmenter& net, torch::optim::Optimizer& optimizer) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no checkpoint to resume from", path);
  TrainingProgress progress;
  try {
    torch::serialize::InputArchive archive, model, optimiser;
    archive.load_from(path);
    archive.read(kModel, model);
    NamedTensors state;
    for (const auto& [k, v] : state_dict(net, KernelForm::Raw)) {
      torch::Tensor t;
      model.read(k, t);
      state.emplace_back(k, t);
    }
    load_state_dict(net, state, KernelForm::Raw, path);
    archive.read(kOptimizer, optimiser);
    optimizer.load(optimiser);
    progress.iteration = read_scalar(archive, kIteration, torch::kInt64, path).item<int64_t>();
    progress.best_dice = read_scalar(archive, kBestDice, torch::kFloat64, path).item<double>();
    progress.best_iteration = read_scalar(archive, kBestIteration, torch::kInt64, path).item<int64_t>();
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    fail("{}: corrupt or incompatible checkpoint ({})", path, what.substr(0, what.find('\n')));
  }
  const bool plausible = progress.iteration >= 0 && progress.best_iteration >= 0 && progress.best_iteration <= progress.iteration &&
                         std::isfinite(progress.best_dice) && progress.best_dice >= -1 && progress.best_dice <= 1;
  if (!plausible) {
    fail("{}: checkpoint holds iteration {}, best Dice {} at {}, which no run writes", path, progress.iteration, progress.best_dice,
         progress.best_iteration);
  }
  return progress;
}

}  // namespace repux
