#include "repux/nn/network_family.h"

#include "repux/error.h"
#include "repux/nn/dynamic_unet.h"
#include "repux/nn/resenc_unet.h"
#include "repux/nn/unetr_segmenter.h"
#include "repux/shape_string.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <deque>
#include <mutex>

namespace repux {
namespace {

std::mutex registry_mutex;

std::deque<NetworkFamily>& registry() {  // a deque: adding never moves the others
  // The built-in families, one line each; the order is the one help texts list them in.
  static std::deque<NetworkFamily> families{repuxnet_family(), uxnet_family(), resenc_family(), nnunet_family()};
  return families;
}

}  // namespace

void StoredShapes::expect(const std::string& key, size_t dim, int64_t value, const char* field) const {
  auto it = shapes.find(key);
  if (it == shapes.end() || it->second.size() <= dim || it->second[dim] != value) {
    fail("{}: the description says {} {}, but tensor {} is {}", path, field, value, key,
         it == shapes.end() ? std::string("missing") : shape_string(it->second));
  }
}

void StoredShapes::expect_stage(const std::string& stage_key, int64_t depth, const std::string& leaf, int64_t width) const {
  expect(fmt::format("{}.{}.{}", stage_key, depth - 1, leaf), 0, width, "a stage width of");
  if (has(fmt::format("{}.{}.{}", stage_key, depth, leaf))) {
    fail("{}: the description says {} blocks in {}, but the file holds more", path, depth, stage_key);
  }
}

int64_t StoredShapes::size(const std::string& key, size_t dim) const {
  auto it = shapes.find(key);
  if (it == shapes.end() || it->second.size() <= dim) {
    fail("{}: expected a tensor {} of at least {} dimensions, the file has {}", path, key, dim + 1,
         it == shapes.end() ? std::string("none") : shape_string(it->second));
  }
  return it->second[dim];
}

int64_t StoredShapes::blocks(const std::string& stage_key, const std::string& leaf) const {
  int64_t n = 0;
  while (has(fmt::format("{}.{}.{}", stage_key, n, leaf))) ++n;
  return n;
}

const NetworkFamily& network_family(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (const auto& family : registry()) {
    if (family.name == name) return family;  // entries are never removed, so the reference stays valid
  }
  std::vector<std::string> names;
  for (const auto& family : registry()) names.push_back(family.name);
  fail("unknown architecture '{}', expected one of: {}", name, fmt::join(names, ", "));
}

std::vector<std::string> network_family_names() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  std::vector<std::string> names;
  for (const auto& family : registry()) names.push_back(family.name);
  return names;
}

void register_network_family(NetworkFamily family) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (family.name.empty() || !family.resolve || !family.build || !family.check_stored) {
    fail("network family '{}': a name, resolve, build and check_stored are all needed", family.name);
  }
  for (const auto& f : registry()) {
    if (f.name == family.name) fail("network family '{}' is already registered", family.name);
  }
  registry().push_back(std::move(family));
}

}  // namespace repux
