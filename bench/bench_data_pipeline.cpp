// The data pipeline alone: batches of `crops` 96^3 crops with full augmentation (foreground-centred
// crops, affine, intensity, flips) read from a case store, with 1..N background workers.
//   bench_data_pipeline STORE [BATCHES [MAX_WORKERS]]
// Prints crops per second for each worker count (all from one run, so the ratios compare).
#include "repux/data/case_store.h"
#include "repux/train/data_source.h"

#include <fmt/format.h>

#include <chrono>
#include <string>

using namespace repux;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_data_pipeline STORE [BATCHES [MAX_WORKERS]]\n");
    return 2;
  }
  const int64_t batches = argc > 2 ? std::stoll(argv[2]) : 20;
  const int max_workers = argc > 3 ? std::stoi(argv[3]) : 2;
  auto store = std::make_shared<const CaseStore>(argv[1]);
  std::vector<size_t> all(store->cases().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const auto crops = store_crop_source(store, all);
  for (int workers = 1; workers <= max_workers; workers *= 2) {
    BatchSourceOptions o;
    o.sampler.flip_axes = {0, 1, 2};
    o.workers = workers;
    o.end = batches;
    o.queue_size = 2 * workers;
    const auto t0 = std::chrono::steady_clock::now();
    {
      auto source = batch_source(crops, o);
      for (int64_t i = 0; i < batches; ++i) source->batch(i);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("workers {:>2}: {:.2f} crops of 96^3 per second ({} batches of {} in {:.1f} s)\n", workers,
               static_cast<double>(batches * o.sampler.crops_per_case) / s, batches, o.sampler.crops_per_case, s);
  }
  return 0;
}
