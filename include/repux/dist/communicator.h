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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  void tell_hosts();
  int rank_ = 0, size_ = 1;
  std::string backend_;
};

// Every parameter and buffer takes rank 0's values (what DistributedDataParallel does at start).
void broadcast_module_state(torch::nn::Module& module, Communicator& comm);

// After backward: the gradients of `parameters`, averaged over ranks, packed into flat buckets of about
// `bucket_bytes` so that there are few collectives (DistributedDataParallel's default is 25 MiB).
// A parameter without a gradient takes part as zeros, so that every rank sends the same buckets.
void average_gradients(const std::vector<torch::Tensor>& parameters, Communicator& comm,
                       int64_t bucket_bytes = 25 * 1024 * 1024);

// The same number on every rank? (sum and max of |value| agree). For "are the replicas in sync".
bool same_on_all_ranks(double value, Communicator& comm);

}  // namespace repux
