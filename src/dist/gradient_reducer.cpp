#include "repux/dist/gradient_reducer.h"

#include "repux/error.h"

#include <chrono>

namespace repux {

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters, Communicator& comm, GradientSync sync, int64_t bucket_bytes)
    : comm_(comm), sync_(sync) {
  for (auto& p : parameters)
    if (p.requires_grad()) parameters_.push_back(p);
  bucket_of_.resize(parameters_.size());
  slot_of_.resize(parameters_.size());
  arrived_.assign(parameters_.size(), false);
  // The plan: reverse order of registration, a new bucket at a change of dtype or device or when full.
  int64_t bytes = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const auto& p = parameters_[k];
    const bool fits = !buckets_.empty() && bytes < bucket_bytes && buckets_.back().flat.scalar_type() == p.scalar_type() &&
                      buckets_.back().flat.device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      buckets_.back().flat = torch::empty({0}, p.options().requires_grad(false));
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    bucket_of_[k] = buckets_.size() - 1;
    slot_of_[k] = b.members.size();
    b.offsets.push_back(b.flat.numel());
    b.members.push_back(k);
    b.flat = torch::empty({b.flat.numel() + p.numel()}, b.flat.options());
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  if (sync_ == GradientSync::Overlapped) {
    for (size_t k = 0; k < parameters_.size(); ++k)
      hooks_.push_back(parameters_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
  }
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) parameters_[k].remove_hook(hooks_[k]);
}

void GradientReducer::prepare() {
  for (auto& b : buckets_) {
    b.waiting = b.members.size();
  }
  arrived_.assign(parameters_.size(), false);
  next_to_start_ = 0;
  started_during_backward_ = 0;
  armed_ = sync_ == GradientSync::Overlapped;
}

void GradientReducer::place(size_t k, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  Bucket& b = buckets_[bucket_of_[k]];
  b.flat.narrow(0, b.offsets[slot_of_[k]], parameters_[k].numel()).copy_(grad.reshape({-1}));
  arrived_[k] = true;
  --b.waiting;
}

// On the autograd thread, as soon as backward has the whole gradient of parameter k (a leaf's hook sees
// the sum over every use of the parameter in the graph).
void GradientReducer::on_gradient(size_t k, const torch::Tensor& grad) {
  if (!armed_) return;
  if (arrived_[k]) fail("gradient reduction: parameter {} received two gradients in one backward pass", k);
  place(k, grad);
  if (buckets_[bucket_of_[k]].waiting == 0) start_ready_buckets();
}

// Buckets start in plan order on every rank (collectives pair up by order), so a full bucket waits for
// the ones before it.
void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].waiting == 0) {
    Bucket& b = buckets_[next_to_start_++];
    b.reduction = comm_.all_reduce_sum_async(b.flat);
    started_during_backward_ += armed_;
  }
}

double GradientReducer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  armed_ = false;
  // What backward did not deliver: the gradient as it stands (after-backward), or zeros for a parameter
  // that had none in this pass (overlapped; after-backward's zero_grad leaves zeros there too).
  for (size_t k = 0; k < parameters_.size(); ++k) {
    if (arrived_[k]) continue;
    const auto& g = parameters_[k].grad();
    place(k, g.defined() && sync_ == GradientSync::AfterBackward ? g : torch::zeros_like(parameters_[k]));
  }
  start_ready_buckets();
  torch::NoGradGuard no_grad;
  const double ranks = static_cast<double>(comm_.size());
  for (auto& b : buckets_) {
    b.reduction.wait();
    b.flat.div_(ranks);
    for (size_t i = 0; i < b.members.size(); ++i) {
      auto& p = parameters_[b.members[i]];
      const auto mean = b.flat.narrow(0, b.offsets[i], p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace repux
