#pragma once
// Reading and writing PyTorch checkpoints (the zip files torch.save writes since PyTorch 1.6)
// without Python: LibTorch's zip reader/writer plus a strict reader for the subset of pickle
// protocol 2 that torch.save uses for state dicts. Anything outside that subset is an error that
// names what was found, never a guess.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace repux {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads a state dict: a plain dict or OrderedDict of tensors, or a dict that wraps one under
// "state_dict", "model" or "state_dict_ema"-free keys ("state_dict" first, then "model").
// Storages saved on a GPU are mapped to the CPU; tensors sharing a storage keep sharing it.
NamedTensors read_torch_state_dict(const std::string& path);

// A torch.save file that is more than a state dict (a training checkpoint such as nnU-Net's): its
// top-level dict, each entry either a state dict (a dict whose every value is a tensor) or a value.
// Classes the reader does not build are kept by name with their arguments and never called.
struct TorchCheckpoint {
  std::map<std::string, NamedTensors> state_dicts;
  // Every other entry as JSON: None as null, tuples and lists as arrays, dicts as objects (keys as
  // strings), numpy float and integer scalars as numbers; a tensor inside as {"__tensor__": sizes},
  // any other object as {"__class__": "torch.device", "args": [...]}.
  nlohmann::json values;
};
TorchCheckpoint read_torch_checkpoint(const std::string& path);

// A plain pickle file (pickle.dump, protocols 2 to 5, the opcodes above), such as nnU-Net's
// postprocessing.pkl, as JSON with TorchCheckpoint::values' conventions; a reference to a function or
// class is {"__global__": "module.name"}. Nothing in it is called; a tensor storage is an error.
nlohmann::json read_pickle_file(const std::string& path);

// Writes a plain dict {name: tensor} that Python's torch.load (and model.load_state_dict) reads.
void write_torch_state_dict(const NamedTensors& tensors, const std::string& path);

}  // namespace repux
