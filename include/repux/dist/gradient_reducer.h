#pragma once
// The gradient all-reduce of data-parallel training, as DistributedDataParallel does it: the parameters
// are grouped into flat buckets of about `bucket_bytes` (one dtype and device each) in reverse order of
// registration, which is roughly the order in which backward produces their gradients. Overlapped, a hook
// on each parameter copies its gradient into its bucket as soon as backward has computed it, and a bucket
// whose gradients are all in starts its all-reduce while backward goes on with the layers below; finish()
// then waits for what is still in flight. After backward (the switch, for comparison), finish() fills
// and reduces every bucket itself. Both use the same bucket plan and the same arithmetic (sum over ranks,
// then divide by their number), so they give the same gradients bit for bit.
#include "repux/dist/communicator.h"
#include "repux/enum_names.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace repux {

enum class GradientSync { Overlapped, AfterBackward };
template <>
struct EnumNames<GradientSync> {
  static constexpr const char* what = "gradient synchronisation";
  static constexpr std::pair<GradientSync, const char*> table[] = {{GradientSync::Overlapped, "overlapped"},
                                                                   {GradientSync::AfterBackward, "after-backward"}};
};

class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> parameters, Communicator& comm, GradientSync sync,
                  int64_t bucket_bytes = 25 * 1024 * 1024);
  ~GradientReducer();  // removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call before backward: arms the hooks for one backward pass.
  void prepare();
  // Call after backward: every parameter's .grad holds the mean over ranks (a parameter that got no
  // gradient takes part as zeros, so that all ranks reduce the same buckets). Returns the seconds spent
  // here, i.e. waiting on communication that backward did not hide.
  double finish();

  size_t buckets() const { return buckets_.size(); }
  // Buckets of the last pass whose all-reduce a hook started while backward was still running.
  size_t started_during_backward() const { return started_during_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into parameters_
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t waiting = 0;  // members whose gradient has not arrived in this pass
    PendingCollective reduction;
  };
  void on_gradient(size_t parameter, const torch::Tensor& grad);
  void start_ready_buckets();
  void place(size_t parameter, const torch::Tensor& grad);

  std::vector<torch::Tensor> parameters_;
  std::vector<size_t> bucket_of_, slot_of_;
  std::vector<bool> arrived_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  Communicator& comm_;
  GradientSync sync_;
  size_t next_to_start_ = 0;
  size_t started_during_backward_ = 0;
  bool armed_ = false;
};

}  // namespace repux
