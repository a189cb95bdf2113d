#pragma once
// Timing shared by the benchmarks: wall-clock seconds with the device synchronised around the work,
// and the median of repeated runs after one warm-up (cuFFT plans, cuDNN algorithms, caches).
#include <torch/torch.h>

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <chrono>
#include <vector>

namespace repux::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

inline void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// The kernel's share of a run: system time and minor page faults (pages faulted in and zeroed).
// On virtual machines a fresh mmap per large tensor can cost more than the arithmetic.
struct Usage {
  double system_seconds = 0;
  double minor_faults = 0;
};

inline Usage usage_now() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return {static_cast<double>(r.ru_stime.tv_sec) + r.ru_stime.tv_usec * 1e-6, static_cast<double>(r.ru_minflt)};
}

struct Measurement {
  double wall = 0;            // median seconds of the repeats
  double system_seconds = 0;  // per repeat (mean)
  double minor_faults = 0;    // per repeat (mean)
  std::string text() const {
    return fmt::format("{:.4f} s (system {:.2f} s = {:.0f}% of wall, {:.0f} minor faults)", wall, system_seconds,
                       100.0 * system_seconds / std::max(1e-9, wall), minor_faults);
  }
};

template <typename F>
Measurement measure(F&& work, int repeats, const torch::Device& device) {
  work();
  std::vector<double> times;
  const Usage before = usage_now();
  for (int i = 0; i < std::max(1, repeats); ++i) {
    synchronize(device);
    const auto t0 = Clock::now();
    work();
    synchronize(device);
    times.push_back(seconds_since(t0));
  }
  const Usage after = usage_now();
  const double n = static_cast<double>(times.size());
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], (after.system_seconds - before.system_seconds) / n, (after.minor_faults - before.minor_faults) / n};
}

template <typename F>
double median_seconds(F&& work, int repeats, const torch::Device& device) {
  return measure(std::forward<F>(work), repeats, device).wall;
}

// True when the arguments ask for help (or are not NAME VALUE pairs): the caller prints its usage.
inline bool wants_usage(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") return true;
  }
  return argc % 2 == 0;
}

}  // namespace repux::bench
