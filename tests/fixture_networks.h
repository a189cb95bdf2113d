#pragma once
// The reduced network configurations of tools/make_network_fixtures.py, which wrote the parity fixtures
// under tests/data/networks.
#include "repux/nn/segmenter.h"

namespace repux::test {

inline NetworkConfig reduced_repuxnet(int64_t classes = 3) {
  NetworkConfig c;
  c.arch = "repuxnet";
  c.out_channels = classes;
  c.dims = {4, 8, 16, 32};
  c.depths = {1, 1, 1, 1};
  c.hidden_size = 32;
  return c;
}

inline NetworkConfig reduced_uxnet() {
  NetworkConfig c;
  c.arch = "uxnet";
  c.out_channels = 3;
  c.dims = {8, 16, 32, 64};
  c.hidden_size = 64;
  return c;
}

}  // namespace repux::test
