// Prediction cost of a 256x256x160 volume with the full-size RepUX-Net (96^3 windows, overlap 0.5):
// the network time per window (with and without the cached kernel spectra), the stitching time
// (sliding window with a predictor that costs nothing), and their extrapolated sum. Stated as an
// extrapolation: the network runs on a few windows, not all of them.
// With --end-to-end (meant for a GPU): predict_volume, the function behind `repux predict`, on a whole
// 256x256x160 CT-like volume (preprocessing, every window, restoring, argmax) in float32 and bf16,
// at overlap 0.5 (repux 0.1's default), the default, --fast and grown windows: time and peak GPU memory.
#include "repux/cpu_threads.h"
#include "repux/data/preprocess.h"
#include "repux/device_memory.h"
#include "repux/infer/predictor.h"
#include "repux/infer/sliding_window.h"
#include "repux/nn/segmenter.h"
#include "repux/ops/lk_dwconv.h"
#include "bench_timing.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

using repux::bench::Clock;
using repux::bench::seconds_since;

void predict_end_to_end(const torch::Device& device) {
  repux::LoadedModel model;
  model.info.plan.network.out_channels = 14;
  model.info.plan.preprocessing = repux::preprocess_preset("flare");
  model.info.plan = repux::resolved(model.info.plan);  // window 96^3 (the patch), overlap 0.25, Gaussian
  model.net = repux::create_network(model.info.plan.network);
  model.net->to(device);
  model.net->deploy();
  repux::Volume ct;  // CT-like intensities at the flare preset's spacing, so no resampling dominates
  ct.data = torch::randn({256, 256, 160}) * 300 - 200;
  ct.affine = torch::diag(torch::tensor({1.0, 1.0, 1.2, 1.0}, torch::kFloat64));
  ct.sample_type = repux::SampleType::Int16;
  // repux 0.1's default (overlap 0.5), today's (0.25), --fast (0) and windows grown to 8x their voxels.
  repux::InferenceOverrides half, grown;
  half.overlap = 0.5;
  grown.window_growth = 8;
  const std::pair<const char*, repux::InferenceOverrides> modes[] = {
      {"overlap 0.5", half}, {"default", {}}, {"--fast", repux::fast_inference()}, {"--window-growth 8", grown}};
  for (const auto precision : {repux::Precision::Float32, repux::Precision::BFloat16}) {
    for (const auto& [name, overrides] : modes) {
      repux::PredictOptions o;
      o.compute_device = device;
      o.precision = precision;
      o.overrides = overrides;
      repux::predict_volume(model, ct, o);  // warm-up: cuFFT plans, cuDNN algorithms, cached spectra
      if (device.is_cuda()) torch::cuda::synchronize();
      repux::reset_cuda_peak();
      const auto t0 = Clock::now();
      const repux::Prediction p = repux::predict_volume(model, ct, o);
      if (device.is_cuda()) torch::cuda::synchronize();
      const double s = seconds_since(t0);
      const int64_t peak = repux::cuda_peak_allocated_bytes();
      fmt::print("end to end {} {} {}: predict 256x256x160, {} window(s) of {}x{}x{}: {:.2f} s{}\n", device.str(), repux::enum_name(precision),
                 name, p.windows, p.window[0], p.window[1], p.window[2], s,
                 peak >= 0 ? fmt::format(", peak {:.2f} GiB", peak / 1073741824.0) : "");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string device_name = argc > 1 ? argv[1] : "cpu";
  const torch::Device device(device_name);
  if (argc > 2 && std::string(argv[2]) == "--end-to-end") {
    predict_end_to_end(device);
    return 0;
  }
  repux::set_cpu_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  repux::NetworkConfig config;
  config.out_channels = 14;
  auto net = repux::create_network(config);
  net->to(device);
  net->eval();
  auto sync = [&] { repux::bench::synchronize(device); };
  auto window = torch::randn({1, 1, 96, 96, 96}, torch::TensorOptions().device(device));

  // BFR mode: W * F is a new tensor every call, so every call transforms the kernels.
  auto t0 = Clock::now();
  net->forward(window);
  sync();
  const double bfr = seconds_since(t0);
  net->deploy();
  t0 = Clock::now();
  net->forward(window);  // deployed, first call: computes and caches the spectra
  sync();
  const double first = seconds_since(t0);
  t0 = Clock::now();
  net->forward(window);  // deployed, cached spectra
  sync();
  const double cached = seconds_since(t0);

  // The operator alone at the first stage's window shape, where the cache acts: fft recomputing the
  // kernel spectra on every call vs the cache (median of 5 after a warm-up).
  auto x = torch::randn({1, 48, 48, 48, 48}, torch::TensorOptions().device(device));
  auto w = torch::randn({48, 1, 21, 21, 21}, torch::TensorOptions().device(device)) * 0.01;
  auto b = torch::randn({48}, torch::TensorOptions().device(device));
  repux::LkSpectrumCache cache;
  const double op_fft = repux::bench::median_seconds([&] { repux::lk_dwconv(x, w, b, repux::LkImpl::Fft); }, 5, device);
  const double op_cached = repux::bench::median_seconds([&] { cache.forward(x, w, b); }, 5, device);

  repux::InferenceSettings settings;
  settings.window = {96, 96, 96};
  settings.overlap = 0.5;
  settings.blending = repux::Blending::Gaussian;
  repux::SlidingWindowOptions o;
  o.compute_device = device;
  o.stitch_device = device;
  auto volume = torch::randn({1, 1, 256, 256, 160}, torch::TensorOptions().device(device));
  int64_t windows = 0;
  auto zeros = torch::zeros({1, 14, 96, 96, 96}, torch::TensorOptions().device(device));
  t0 = Clock::now();
  repux::sliding_window_inference(volume, 14, [&](const torch::Tensor&) {
    ++windows;
    return zeros;
  }, settings, o);
  sync();
  const double stitch = seconds_since(t0);
  const double network = windows * cached;
  fmt::print("device {}: full-size RepUX-Net, one 96^3 window: {:.2f} s BFR mode (kernels transformed every call), "
             "{:.2f} s deployed first call, {:.2f} s deployed with cached spectra ({:.2f}x)\n",
             device_name, bfr, first, cached, first / cached);
  fmt::print("lk_dwconv [1,48,48^3] k21 (a window's first stage): fft {:.4f} s, cached spectra {:.4f} s ({:.2f}x)\n", op_fft,
             op_cached, op_fft / op_cached);
  fmt::print("256x256x160 at overlap 0.5: {} windows; stitching {:.2f} s; network {:.1f} s (extrapolated: {} x {:.2f} s); "
             "total ~{:.1f} s; stitching overhead {:.1f}% of network time\n",
             windows, stitch, network, windows, cached, network + stitch, 100.0 * stitch / network);
  return 0;
}
