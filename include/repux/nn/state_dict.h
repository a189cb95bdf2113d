#pragma once
// State dicts of a network under the official key names, in two forms:
//   effective: the kernels the convolutions apply (W * F under BFR, W + pad(W_small) under the
//              structural baseline). Official checkpoints and repux model files hold this form.
//   raw:       every parameter and buffer as it is, for resuming training exactly.
#include "repux/io/torch_checkpoint.h"
#include "repux/nn/segmenter.h"

#include <string>

namespace repux {

enum class KernelForm { Effective, Raw };

NamedTensors state_dict(Segmenter& net, KernelForm form);

// Loads `state` into `net`, all or nothing: missing keys, unexpected keys and shape mismatches are
// listed in one error that names `source`. Effective kernels loaded into a BFR-mode network become
// W = W_eff / F, so the network computes the same function.
void load_state_dict(Segmenter& net, const NamedTensors& state, KernelForm form, const std::string& source);

}  // namespace repux
