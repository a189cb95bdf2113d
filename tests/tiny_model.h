#pragma once
// A tiny RepUX-Net (dims 4-32, 5^3 kernels, patch 32^3) with random weights, saved as a model file
// under the rest of `plan` (classes, class names, preprocessing): predict and post-processing tests
// need a real model file, not a trained one.
#include "repux/model/model_file.h"
#include "test_util.h"

namespace repux::test {

inline std::string write_tiny_model(const TempDir& dir, Plan plan, const std::string& name, uint64_t seed = 0) {
  NetworkConfig& c = plan.network;
  c.dims = {4, 8, 16, 32};
  c.depths = {1, 1, 1, 1};
  c.kernel_sizes = {5};
  c.hidden_size = 16;
  plan.patch = {32, 32, 32};
  torch::manual_seed(seed);
  auto net = create_network(c);
  ModelInfo info;
  info.plan = plan;
  const std::string path = dir.file(name);
  save_model(net, info, path);
  return path;
}

}  // namespace repux::test
