#pragma once
// Where training batches come from. The trainer asks for the batch of each iteration in increasing
// order; an implementation must give the same batch for the same iteration however and whenever it
// produces it, which is what makes resume exact. batch_source() is the implementation: workers sample
// each batch from a CropSource (a case store on disk when training; cases in memory in tests).
#include "repux/data/sampler.h"

#include <memory>
#include <vector>

namespace repux {

class TrainingDataSource {
 public:
  virtual ~TrainingDataSource() = default;
  virtual Batch batch(int64_t iteration) = 0;
};

struct BatchSourceOptions {
  std::array<int64_t, 3> patch{96, 96, 96};
  SamplerOptions sampler;
  uint64_t seed = 0;     // the batch of iteration i is drawn from a seed made of this and i
  int64_t first = 0;     // the first iteration that will be asked for
  int64_t end = 1;       // one past the last
  int workers = 1;       // background threads drawing batches ahead
  int queue_size = 4;    // batches drawn ahead at most
  torch::Device augment_device = torch::kCPU;  // where the workers augment (sample_batch)
};

// Batches sampled from `crops` (cases in memory or a store on disk) by background workers into a
// bounded queue.
std::unique_ptr<TrainingDataSource> batch_source(std::shared_ptr<const CropSource> crops, const BatchSourceOptions& options);

}  // namespace repux
