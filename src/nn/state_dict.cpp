#include "repux/nn/state_dict.h"

#include "repux/error.h"
#include "repux/shape_string.h"

#include <map>
#include <set>

namespace repux {
namespace {

std::string join_first(const std::vector<std::string>& items, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += fmt::format(" (+{} more)", items.size() - limit);
  return out;
}

NamedTensors all_raw(Segmenter& net) {
  NamedTensors out;
  for (const auto& p : net->named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : net->named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

std::map<std::string, LargeKernelConv> convs_by_prefix(Segmenter& net) {
  std::map<std::string, LargeKernelConv> convs;
  for (auto& [prefix, conv] : large_kernel_convs(net)) convs.emplace(prefix, conv);
  return convs;
}

}  // namespace

NamedTensors state_dict(Segmenter& net, KernelForm form) {
  if (form == KernelForm::Raw) return all_raw(net);
  auto convs = convs_by_prefix(net);
  NamedTensors out;
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : all_raw(net)) {
    const auto dot = key.rfind('.');
    auto it = convs.find(key.substr(0, dot));
    if (it == convs.end()) {
      out.emplace_back(key, value);
      continue;
    }
    const std::string leaf = key.substr(dot + 1);
    auto& conv = it->second;
    if (leaf == "weight") out.emplace_back(key, conv->effective_weight().detach().clone());
    else if (leaf == "bias") {
      const bool branch = conv->small_bias.defined() && !conv->deployed();
      out.emplace_back(key, branch ? (conv->bias + conv->small_bias).detach() : value);
    }
    // small_weight / small_bias are folded into weight and bias above.
  }
  return out;
}

void load_state_dict(Segmenter& net, const NamedTensors& state, KernelForm form, const std::string& source) {
  const NamedTensors expected = state_dict(net, form);
  std::map<std::string, torch::Tensor> given;
  for (const auto& [k, v] : state) given[k] = v;
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> wanted;
  for (const auto& [k, v] : expected) {
    wanted.insert(k);
    auto it = given.find(k);
    if (it == given.end()) missing.push_back(k);
    else if (it->second.sizes() != v.sizes()) {
      mismatched.push_back(fmt::format("{} is {} but the network needs {}", k, shape_string(it->second.sizes()), shape_string(v.sizes())));
    }
  }
  for (const auto& [k, v] : given) {
    if (!wanted.count(k)) unexpected.push_back(k);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = fmt::format("{}: does not fit the {} network:", source, net->config.arch);
    if (!mismatched.empty()) msg += " wrong shapes: " + join_first(mismatched) + ";";
    if (!missing.empty()) msg += fmt::format(" {} missing keys: {};", missing.size(), join_first(missing));
    if (!unexpected.empty()) msg += fmt::format(" {} unexpected keys: {};", unexpected.size(), join_first(unexpected));
    msg.pop_back();
    throw Error(msg);
  }

  auto convs = convs_by_prefix(net);
  torch::NoGradGuard no_grad;
  for (const auto& [key, target] : all_raw(net)) {
    auto it = given.find(key);
    if (form == KernelForm::Effective) {
      const auto dot = key.rfind('.');
      auto conv = convs.find(key.substr(0, dot));
      if (conv != convs.end() && key.substr(dot + 1) == "weight") {
        conv->second->load_effective_weight(it->second);
        continue;
      }
      if (it == given.end()) continue;  // a structural branch tensor, zeroed by load_effective_weight
    }
    target.copy_(it->second.to(target.device(), target.scalar_type()));
  }
}

}  // namespace repux
