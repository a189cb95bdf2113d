// Times the large-kernel depthwise convolution, direct vs fft vs auto, at RepUX-Net's stage shapes.
// Each case runs in a child process (this program with --case) so that its peak memory is its own.
// Direct cases predicted to exceed a time budget are measured on a subset of channels and scaled
// linearly (depthwise cost is linear in channels); the table marks them "~".
#include "repux/cpu_threads.h"
#include "repux/ops/lk_dwconv.h"
#include "bench_timing.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Timing {
  double forward = 0, forward_backward = 0;
  double system_share = 0;  // system time / wall time over both measurements
  double minor_faults = 0;  // per forward+backward run
};

// Median of `repeats` runs after one warm-up.
Timing time_impl(repux::LkImpl impl, const std::vector<int64_t>& shape, int64_t kernel, const torch::Device& device,
                 int repeats) {
  auto opts = torch::TensorOptions().device(device);
  auto x = torch::randn(shape, opts).requires_grad_(true);
  auto w = (torch::randn({shape[1], 1, kernel, kernel, kernel}, opts) * 0.01).requires_grad_(true);
  auto b = torch::randn({shape[1]}, opts).requires_grad_(true);
  const auto forward = repux::bench::measure([&] {
    torch::NoGradGuard no_grad;
    repux::lk_dwconv(x, w, b, impl);
  }, repeats, device);
  const auto forward_backward = repux::bench::measure([&] { repux::lk_dwconv(x, w, b, impl).sum().backward(); }, repeats, device);
  const double system = forward.system_seconds + forward_backward.system_seconds;
  return {forward.wall, forward_backward.wall, system / std::max(1e-9, forward.wall + forward_backward.wall), forward_backward.minor_faults};
}

int run_case(const std::string& impl_name, const std::vector<int64_t>& shape, int64_t kernel, const std::string& device_name,
             int repeats) {
  const torch::Device device(device_name);
  const auto t = time_impl(repux::enum_from_name<repux::LkImpl>(impl_name), shape, kernel, device, repeats);
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  double peak_mb = usage.ru_maxrss / 1024.0;
#ifdef REPUX_WITH_CUDA
  if (device.is_cuda()) peak_mb = 0;  // reported by the CUDA benchmark instead
#endif
  std::printf("RESULT %.6f %.6f %.1f %.4f %.0f\n", t.forward, t.forward_backward, peak_mb, t.system_share, t.minor_faults);
  return 0;
}

struct ChildResult {
  double forward = -1, forward_backward = -1, peak_mb = -1, system_share = -1, minor_faults = -1;
};

ChildResult spawn(const std::string& self, const std::string& impl, const std::vector<int64_t>& shape, int64_t kernel,
                  const std::string& device, int repeats, int threads) {
  const std::string cmd = fmt::format("{} --case {} {} {} {} {} {} {} {} {} {} 2>&1", self, impl, shape[0], shape[1], shape[2],
                                      shape[3], shape[4], kernel, device, repeats, threads);
  ChildResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  char line[512];
  while (pipe && std::fgets(line, sizeof(line), pipe)) {
    if (std::sscanf(line, "RESULT %lf %lf %lf %lf %lf", &r.forward, &r.forward_backward, &r.peak_mb, &r.system_share, &r.minor_faults) == 5) break;
  }
  if (pipe) ::pclose(pipe);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int default_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Child mode: --case IMPL N C D H W KERNEL DEVICE REPEATS THREADS
  if (argc == 12 && std::string(argv[1]) == "--case") {
    repux::set_cpu_threads(std::atoi(argv[11]));
    torch::manual_seed(0);
    std::vector<int64_t> shape{std::atol(argv[3]), std::atol(argv[4]), std::atol(argv[5]), std::atol(argv[6]), std::atol(argv[7])};
    return run_case(argv[2], shape, std::atol(argv[8]), argv[9], std::atoi(argv[10]));
  }
  std::string device = "cpu";
  double direct_budget_s = 20.0;
  std::vector<int64_t> kernels{7, 13, 21, 31};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      fmt::print("usage: {} [--device cpu|cuda] [--kernels 7,13,21,31] [--direct-budget SECONDS]\n"
                 "Times the large-kernel depthwise conv (direct, FFT, auto) forward and forward+backward at the network's shapes; "
                 "each case runs in its own process. 'fft sys%' and 'fft faults' are the FFT runs' system-time share and minor page "
                 "faults per forward+backward.\n", argv[0]);
      return 0;
    }
    if (a == "--device" && i + 1 < argc) device = argv[++i];
    else if (a == "--direct-budget" && i + 1 < argc) direct_budget_s = std::atof(argv[++i]);
    else if (a == "--kernels" && i + 1 < argc) {
      kernels.clear();
      for (char* tok = std::strtok(argv[++i], ","); tok; tok = std::strtok(nullptr, ",")) kernels.push_back(std::atol(tok));
    } else {
      std::fprintf(stderr, "usage: %s [--device cpu|cuda] [--kernels 7,13,21,31] [--direct-budget SECONDS]\n", argv[0]);
      return 2;
    }
  }
  const int repeats = device == "cpu" ? 3 : 20;
  const std::vector<std::vector<int64_t>> shapes{{2, 48, 48, 48, 48}, {2, 96, 24, 24, 24}, {2, 192, 12, 12, 12}, {2, 384, 6, 6, 6}};
  fmt::print("lk_dwconv benchmark on {} ({} threads); times in seconds, median of {} after a warm-up; "
             "'~' = direct measured on a channel subset and scaled\n", device, default_threads, repeats);
  fmt::print("{:<22} {:>3} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>6} {:>7} | {:>6} {:>6} {:>6} | {:>8} {:>10}\n", "shape", "k",
             "direct f", "fft f", "auto f", "direct fb", "fft fb", "auto fb", "dir/fft f", "dir/fft fb", "auto", "auto/best",
             "MB dir", "MB fft", "MB auto", "fft sys%", "fft faults");
  for (const auto& shape : shapes) {
    for (int64_t k : kernels) {
      const auto fft = spawn(argv[0], "fft", shape, k, device, repeats, default_threads);
      // Probe direct on a few channels first; scale when the full run would blow the budget.
      auto probe_shape = shape;
      probe_shape[1] = std::max<int64_t>(1, shape[1] / 16);
      auto direct = spawn(argv[0], "direct", probe_shape, k, device, 1, default_threads);
      const double scale = static_cast<double>(shape[1]) / probe_shape[1];
      bool extrapolated = direct.forward_backward * scale * 5 > direct_budget_s;
      if (extrapolated) {
        direct.forward *= scale;
        direct.forward_backward *= scale;
        direct.peak_mb = -1;
      } else {
        direct = spawn(argv[0], "direct", shape, k, device, repeats, default_threads);
      }
      const auto chosen = repux::lk_choose_impl(shape, {shape[1], 1, k, k, k}, torch::Device(device));
      const bool auto_is_fft = chosen == repux::LkImpl::Fft;
      const auto autor = (auto_is_fft || !extrapolated) ? spawn(argv[0], "auto", shape, k, device, repeats, default_threads) : direct;
      const double best_f = std::min(direct.forward, fft.forward), best_fb = std::min(direct.forward_backward, fft.forward_backward);
      const std::string mark = extrapolated ? "~" : "";
      fmt::print("{:<22} {:>3} | {:>8}{:1} {:>9.4f} {:>9.4f} | {:>8}{:1} {:>9.4f} {:>9.4f} | {:>8.1f}x {:>8.1f}x | {:>6} {:>6.2f}/{:.2f} | {:>6} {:>6.0f} {:>6.0f} | {:>7.1f}% {:>10.0f}\n",
                 fmt::format("[{},{},{}^3]", shape[0], shape[1], shape[2]), k, fmt::format("{:.4f}", direct.forward), mark,
                 fft.forward, autor.forward, fmt::format("{:.4f}", direct.forward_backward), mark, fft.forward_backward,
                 autor.forward_backward, direct.forward / fft.forward, direct.forward_backward / fft.forward_backward,
                 repux::enum_name(chosen), autor.forward / best_f, autor.forward_backward / best_fb,
                 extrapolated ? std::string("-") : fmt::format("{:.0f}", direct.peak_mb), fft.peak_mb, autor.peak_mb,
                 100 * fft.system_share, fft.minor_faults);
      std::fflush(stdout);
    }
  }
  return 0;
}
