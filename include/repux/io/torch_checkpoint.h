#pragma once
// Reading and writing PyTorch checkpoints (the zip files torch.save writes since PyTorch 1.6)
// without Python: LibTorch's zip reader/writer plus a strict reader for the subset of pickle
// protocol 2 that torch.save uses for state dicts. Anything outside that subset is an error that
// names what was found, never a guess.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace repux {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads a state dict: a plain dict or OrderedDict of tensors, or a dict that wraps one under
// "state_dict", "model" or "state_dict_ema"-free keys ("state_dict" first, then "model").
// Storages saved on a GPU are mapped to the CPU; tensors sharing a storage keep sharing it.
NamedTensors read_torch_state_dict(const std::string& path);

// Writes a plain dict {name: tensor} that Python's torch.load (and model.load_state_dict) reads.
void write_torch_state_dict(const NamedTensors& tensors, const std::string& path);

}  // namespace repux
