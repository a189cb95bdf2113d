#pragma once
// The registry of network families, by name (as tiny-cuda-nn builds its networks and SimpleITK its
// image readers). A family is one file pair defining a function that returns its NetworkFamily, plus
// one line in the built-in table (src/nn/network_family.cpp); a program or test may register more at
// run time. NetworkConfig::arch names the family; everything else that depends on it asks here.
#include "repux/nn/segmenter.h"

#include <torch/torch.h>

#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace repux {

// The shapes of a model file's stored tensors, by name, and checks that one of them shows a value the
// file's description claims. A description decides how large a network is built, so it is checked
// against the tensors before anything is allocated.
struct StoredShapes {
  std::map<std::string, torch::IntArrayRef> shapes;
  std::string path;

  // Tensor `key` exists and its size along `dim` is `value`; else an error naming `field`.
  void expect(const std::string& key, size_t dim, int64_t value, const char* field) const;
  // The stage's last block `{stage_key}.{depth - 1}.{leaf}` shows `width` and there is no block after it.
  void expect_stage(const std::string& stage_key, int64_t depth, const std::string& leaf, int64_t width) const;
  bool has(const std::string& key) const { return shapes.count(key) > 0; }
  // The size of tensor `key` along `dim`; an error naming the key when the file has no such tensor.
  int64_t size(const std::string& key, size_t dim) const;
  // How many blocks `{stage_key}.{i}.{leaf}` there are, from i = 0.
  int64_t blocks(const std::string& stage_key, const std::string& leaf) const;
};

struct NetworkFamily {
  std::string name;     // NetworkConfig::arch, `--arch`
  std::string summary;  // one line for `repux info` and the help
  // The NetworkConfig fields (and their `repux train` flags) the family uses beyond arch, in_channels,
  // out_channels: a flag for any other is refused before any data is read.
  std::vector<std::string> fields;
  // Fills the family's defaults into `config` and refuses values that do not apply, naming them.
  std::function<void(NetworkConfig& config)> resolve;
  // The network of a resolved config.
  std::function<Segmenter(const NetworkConfig& config)> build;
  // A model file's description against its tensors (see StoredShapes).
  std::function<void(const NetworkConfig& config, const StoredShapes& stored)> check_stored;
  // What every input size must be a multiple of, per axis; empty: 16 (four halvings).
  std::function<std::array<int64_t, 3>(const NetworkConfig& config)> input_multiple;
  // The key prefix of the official PyTorch checkpoints (`repux import`); empty: none exist.
  std::string official_prefix;
  // For imports: fills `config`'s sizes (widths, depths, kernel sizes, channels, classes) from the
  // tensors an official checkpoint holds; empty where the family has no official checkpoints.
  std::function<void(NetworkConfig& config, const StoredShapes& stored)> infer_stored;
};

// An error naming the registered families when `name` is none of them.
const NetworkFamily& network_family(const std::string& name);
std::vector<std::string> network_family_names();
// Adds a family (an error if its name is taken).
void register_network_family(NetworkFamily family);

}  // namespace repux
