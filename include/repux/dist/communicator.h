#pragma once
// Data-parallel training across processes on LibTorch's own distributed engine (c10d): a process
// group (Gloo for CPU tensors, NCCL for CUDA) that meets through a TCPStore at MASTER_ADDR:MASTER_PORT,
// configured by the environment variables torchrun sets. The c10d headers stay in the .cpp file.
#include "repux/nn/sync_batch_norm.h"

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace repux {

// Where this process stands in the group: torchrun's RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// GROUP_RANK (the node's rank), MASTER_ADDR and MASTER_PORT.
struct LaunchEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int group_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// A TCP port on the loopback interface that is free now (for a rendezvous on this machine).
int free_tcp_port();

// An integer environment variable: `fallback` when unset or empty; an error naming it when it is not
// an integer of at least `min_value` (read the same way everywhere, e.g. LOCAL_WORLD_SIZE).
int int_from_env(const char* name, int fallback, int min_value);

// The rank's place, from the first of these that is set (one precedence, documented in the user guide):
// 1. torchrun's variables (WORLD_SIZE set): as torchrun, `repux launch` or a user sets them;
// 2. SLURM's, under srun with more than one task (SLURM_NTASKS > 1): SLURM_PROCID, SLURM_NTASKS,
//    SLURM_LOCALID, SLURM_NODEID, SLURM_NTASKS_PER_NODE (else the first of SLURM_STEP_TASKS_PER_NODE),
//    MASTER_ADDR or else the first host of SLURM_STEP_NODELIST (or SLURM_JOB_NODELIST), MASTER_PORT or
//    else 29500;
// 3. a single process.
// A malformed or inconsistent variable is an error naming it.
LaunchEnvironment launch_environment_from_env();

// The first host of a SLURM host list: "gpu[003-005,010],cpu01" -> "gpu003".
std::string first_slurm_host(const std::string& nodelist);

struct CommunicatorOptions {
  LaunchEnvironment where;
  std::string backend;  // "gloo", "nccl", or "" for the device's default (gloo on cpu, nccl on cuda)
  torch::Device device = torch::kCPU;
  // Rendezvous and every collective fail with an error after this long (a dead or hung rank).
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
};

// A collective under way (see Communicator::all_reduce_sum_async). wait() blocks until it has completed
// and throws the same one-line error as the blocking collectives when it failed or timed out.
class PendingCollective {
 public:
  PendingCollective() = default;
  bool started() const { return state_ != nullptr; }
  void wait();

 private:
  friend class Communicator;
  struct State;
  std::shared_ptr<State> state_;
};

class Communicator : public BatchStatReducer {
 public:
  explicit Communicator(const CommunicatorOptions& options);
  ~Communicator() override;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& backend() const { return backend_; }

  // In place, over every rank; the tensors must match in shape and dtype on all ranks.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override;
  void all_reduce_max(std::vector<torch::Tensor>& tensors);
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  // Starts a sum over every rank of one contiguous tensor, in place, and returns at once. Every rank
  // must start its collectives in the same order; `tensor` must live until wait() returns.
  PendingCollective all_reduce_sum_async(torch::Tensor tensor);

 private:
  friend class PendingCollective;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  void tell_hosts();
  int rank_ = 0, size_ = 1;
  std::string backend_;
};

// Every parameter and buffer takes rank 0's values (what DistributedDataParallel does at start).
void broadcast_module_state(torch::nn::Module& module, Communicator& comm);

// The same number on every rank? (sum and max of |value| agree). For "are the replicas in sync".
bool same_on_all_ranks(double value, Communicator& comm);

}  // namespace repux
