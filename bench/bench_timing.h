#pragma once
// Timing shared by the benchmarks: wall-clock seconds with the device synchronised around the work,
// and the median of repeated runs after one warm-up (cuFFT plans, cuDNN algorithms, caches).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace repux::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

inline void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

template <typename F>
double median_seconds(F&& work, int repeats, const torch::Device& device) {
  work();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    synchronize(device);
    const auto t0 = Clock::now();
    work();
    synchronize(device);
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace repux::bench
