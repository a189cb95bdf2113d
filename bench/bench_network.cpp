// Whole-network timings: forward (inference, deployed kernels) and an AdamW training step of
// RepUX-Net (or 3D UX-Net) with a chosen large-kernel implementation, in float32 or bf16 autocast
// where the device supports it. Prints one line per measurement (median of the repeats).
#include "repux/cpu_threads.h"
#include "repux/device_memory.h"
#include "repux/nn/autocast.h"
#include "repux/nn/segmenter.h"
#include "repux/nn/transposed_conv3d.h"
#include "repux/nn/winograd_conv3d.h"
#include "repux/ops/lk_dwconv.h"
#include "repux/train/loss.h"
#include "bench_timing.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

// Every 3x3x3 convolution shape of the full-size network (feature size 48, hidden 768) for a size^3
// window, with how many layers have it: LibTorch (oneDNN), Winograd F(2,3) and F(4,3), each blocked and
// layer-wide, and which the network uses.
void print_dense_conv_table(int64_t size, int64_t repeats) {
  struct Shape {
    int64_t in, out, divisor, layers;
  };
  const Shape shapes[] = {{1, 48, 1, 1},    {48, 48, 1, 4},     {96, 48, 1, 1},     {48, 96, 2, 1},   {96, 96, 2, 2},
                          {192, 96, 2, 1},  {96, 192, 4, 1},    {192, 192, 4, 2},   {384, 192, 4, 1}, {192, 384, 8, 1},
                          {384, 384, 8, 2}, {768, 384, 8, 1},   {384, 768, 16, 1},  {768, 768, 16, 1}};
  const torch::Device cpu("cpu");
  torch::NoGradGuard no_grad;
  fmt::print("3x3x3 convolution shapes of the full-size network, 1 x {}^3 window (seconds per layer)\n", size);
  for (const Shape& s : shapes) {
    const int64_t n = size / s.divisor;
    const auto x = torch::randn({1, s.in, n, n, n});
    const auto w = torch::randn({s.out, s.in, 3, 3, 3});
    const auto f2 = repux::winograd_weight(w, 2), f4 = repux::winograd_weight(w, 4);
    using Schedule = repux::WinogradSchedule;
    const auto time = [&](const repux::WinogradWeight& f, Schedule schedule) {
      return repux::bench::measure([&] { repux::winograd_conv3d(x, f, {}, schedule); }, static_cast<int>(repeats), cpu).wall;
    };
    const double libtorch = repux::bench::measure([&] { torch::conv3d(x, w, {}, 1, 1); }, static_cast<int>(repeats), cpu).wall;
    const double f2_blocked = time(f2, Schedule::Blocked), f2_layer = time(f2, Schedule::LayerWide);
    const double f4_blocked = time(f4, Schedule::Blocked), f4_layer = time(f4, Schedule::LayerWide);
    const int used = repux::winograd_conv3d_tile(x, w);
    const bool layer_wide = used != 0 && repux::winograd_conv3d_schedule(x, used == 4 ? f4 : f2) == Schedule::LayerWide;
    const double chosen = used == 0 ? libtorch : used == 4 ? (layer_wide ? f4_layer : f4_blocked) : (layer_wide ? f2_layer : f2_blocked);
    const auto ratio = [&](double t) { return fmt::format("{:.4f} ({:.2f}x)", t, libtorch / t); };
    fmt::print("conv3x3x3 {:>3} -> {:>3} at {:>2}^3 (x{}): LibTorch {:.4f}, F(2,3) blocked {}, layer-wide {}, F(4,3) blocked {}, "
               "layer-wide {}; used {} ({:.2f}x)\n",
               s.in, s.out, n, s.layers, libtorch, ratio(f2_blocked), ratio(f2_layer), ratio(f4_blocked), ratio(f4_layer),
               used == 0 ? std::string("LibTorch") : fmt::format("F({},3) {}", used, layer_wide ? "layer-wide" : "blocked"), libtorch / chosen);
  }
  // The decoder's stride-2 transposed convolutions (kernel 2), from the bottleneck up.
  const Shape up_shapes[] = {{768, 384, 16, 1}, {384, 192, 8, 1}, {192, 96, 4, 1}, {96, 48, 2, 1}};
  for (const Shape& s : up_shapes) {
    const int64_t n = size / s.divisor;
    const auto x = torch::randn({1, s.in, n, n, n});
    const auto w = torch::randn({s.in, s.out, 2, 2, 2});
    const double libtorch = repux::bench::measure([&] { torch::conv_transpose3d(x, w, {}, 2); }, static_cast<int>(repeats), cpu).wall;
    const double ours = repux::bench::measure([&] { repux::stride2_transposed_conv3d(x, w); }, static_cast<int>(repeats), cpu).wall;
    const bool used = repux::stride2_transposed_conv3d_pays(x, w);
    fmt::print("transposed 2x2x2 {:>3} -> {:>3} at {:>2}^3 (x{}): LibTorch {:.4f}, repux {:.4f} ({:.2f}x); used {} ({:.2f}x)\n", s.in,
               s.out, n, s.layers, libtorch, ours, libtorch / ours, used ? "repux" : "LibTorch", used ? libtorch / ours : 1.0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu", arch = "repuxnet", impl = "auto", precision_name = "fp32";
  repux::LkSaveMode save_mode = repux::LkSaveMode::Auto;
  std::string trace;  // a chrome://tracing file of one forward pass (LibTorch's profiler)
  int64_t size = 64, batch = 2, repeats = 3;
  bool skip_train = false, conv_table = false, conv_table_only = false;
  auto usage = [&] {
    fmt::print("usage: {} [--device cpu|cuda] [--arch repuxnet|uxnet] [--impl auto|fft|direct] [--size 64] [--batch 2] [--repeats 3] "
               "[--precision fp32|bf16] [--save auto|spectra|inputs] [--skip-train 1] [--trace forward.json] [--conv-table 1|only]\n"
               "Times the forward pass (1 x size^3, deployed) and an AdamW training step (batch x size^3): median wall time, "
               "system time and minor page faults per run. On a CPU the forward pass is timed again with LibTorch's 3x3x3 "
               "convolutions instead of Winograd's; --conv-table 1 first times the two on each of the decoder's "
               "convolution shapes at this size (only: and nothing else).\n", argv[0]);
  };
  if (repux::bench::wants_usage(argc, argv)) {
    usage();
    return argc % 2 == 0 ? 2 : 0;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--device") device_name = v;
    else if (a == "--arch") arch = v;
    else if (a == "--impl") impl = v;
    else if (a == "--size") size = std::atol(v.c_str());
    else if (a == "--batch") batch = std::atol(v.c_str());
    else if (a == "--repeats") repeats = std::atol(v.c_str());
    else if (a == "--skip-train") skip_train = v == "1";
    else if (a == "--trace") trace = v;
    else if (a == "--conv-table") conv_table = v == "1" || v == "only", conv_table_only = v == "only";
    else if (a == "--precision") precision_name = v;
    else if (a == "--save") save_mode = repux::enum_from_name<repux::LkSaveMode>(v);
    else {
      usage();
      return 2;
    }
  }
  repux::set_cpu_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const torch::Device device(device_name);
  const repux::Precision precision = repux::enum_from_name<repux::Precision>(precision_name);
  repux::lk_set_save_mode(save_mode);
  // Peak GPU memory of one measurement (the warm-up and repeats included), like max_memory_allocated.
  auto peak_text = [&] {
    const int64_t peak = repux::cuda_peak_allocated_bytes();
    return device.is_cuda() && peak >= 0 ? fmt::format(", peak {:.2f} GiB", peak / 1073741824.0) : std::string();
  };
  torch::manual_seed(0);
  if (conv_table && device.is_cpu()) print_dense_conv_table(size, repeats);
  if (conv_table_only) return 0;
  repux::NetworkConfig config;
  config.arch = arch;
  config.out_channels = 14;
  config.conv_impl = repux::enum_from_name<repux::LkImpl>(impl);
  auto net = repux::create_network(config);
  net->to(device);

  // Inference: one [1, 1, size^3] window, deployed kernels, no gradients.
  auto infer_net = repux::create_network(config);
  infer_net->to(device);
  infer_net->deploy();
  infer_net->eval();
  auto x1 = torch::randn({1, 1, size, size, size}, torch::TensorOptions().device(device));
  if (device.is_cuda()) repux::reset_cuda_peak();
  const auto forward = repux::bench::measure([&] {
    torch::NoGradGuard no_grad;
    repux::AutocastScope amp(device.type(), precision);
    infer_net->forward(x1);
  }, static_cast<int>(repeats), device);
  fmt::print("{} {} impl={} {} forward 1x{}^3: {}{}\n", device_name, arch, impl, precision_name, size, forward.text(), peak_text());
  if (device.is_cpu() && precision == repux::Precision::Float32) {
    repux::winograd_set_enabled(false);
    const auto libtorch = repux::bench::measure([&] {
      torch::NoGradGuard no_grad;
      infer_net->forward(x1);
    }, static_cast<int>(repeats), device);
    repux::winograd_set_enabled(true);
    fmt::print("{} {} same pass with LibTorch's 3x3x3 convolutions: {} (Winograd path {:.2f}x faster)\n", device_name, arch,
               libtorch.text(), libtorch.wall / forward.wall);
  }
  if (!trace.empty()) {
    torch::NoGradGuard no_grad;
    torch::autograd::profiler::RecordProfile profile(trace);
    infer_net->forward(x1);
  }
  if (skip_train) return 0;

  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  auto x = torch::randn({batch, 1, size, size, size}, torch::TensorOptions().device(device));
  auto y = torch::randint(0, 14, {batch, size, size, size}, torch::TensorOptions().device(device).dtype(torch::kInt64));
  net->train();
  infer_net = nullptr;
  if (device.is_cuda()) {
    torch::cuda::synchronize();
    repux::reset_cuda_peak();
  }
  const auto step = repux::bench::measure([&] {
    opt.zero_grad();
    torch::Tensor loss;
    {
      repux::AutocastScope amp(device.type(), precision);
      loss = repux::dice_ce_loss(net->forward(x).to(torch::kFloat32), y);
    }
    loss.backward();
    opt.step();
  }, static_cast<int>(repeats), device);
  fmt::print("{} {} impl={} {} train step {}x{}^3: {}{}\n", device_name, arch, impl, precision_name, batch, size, step.text(), peak_text());
  return 0;
}
