#include "repux/dist/communicator.h"

#include "repux/error.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#if defined(REPUX_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

namespace repux {
namespace {

// LibTorch 2 split process groups into a front end and per-device "backends" (ProcessGroupGloo is one);
// 1.13's ProcessGroupGloo is itself the process group. Both offer the collectives used here.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

}  // namespace

int int_from_env(const char* name, int fallback, int min_value) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < min_value || value > 1 << 24) fail("environment variable {}='{}' is not an integer >= {}", name, text, min_value);
  return static_cast<int>(value);
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  // Port 0: the kernel picks a free one; getsockname says which.
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) fail("no free TCP port on the loopback interface; pass one explicitly");
  return ntohs(addr.sin_port);
}

std::string first_slurm_host(const std::string& nodelist) {
  std::string host;
  for (size_t i = 0; i < nodelist.size() && nodelist[i] != ','; ++i) {
    if (nodelist[i] != '[') {
      host += nodelist[i];
      continue;
    }
    // A bracketed range list ("003-005,010"): its first value.
    const auto close = nodelist.find(']', i);
    if (close == std::string::npos) fail("SLURM host list '{}': unbalanced '['", nodelist);
    const std::string ranges = nodelist.substr(i + 1, close - i - 1);
    const std::string first = ranges.substr(0, ranges.find_first_of("-,"));
    if (first.empty()) fail("SLURM host list '{}': an empty range", nodelist);
    host += first;
    i = close;
  }
  if (host.empty()) fail("SLURM host list '{}': no host", nodelist);
  return host;
}

namespace {

const char* env_text(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// SLURM_STEP_TASKS_PER_NODE's first entry: "2(x3),1" -> 2.
int slurm_tasks_on_first_node(int fallback) {
  const char* text = env_text("SLURM_STEP_TASKS_PER_NODE");
  if (!text) return fallback;
  const int n = std::atoi(text);
  return n > 0 ? n : fallback;
}

LaunchEnvironment from_slurm() {
  LaunchEnvironment e;
  e.world_size = int_from_env("SLURM_NTASKS", 1, 1);
  e.rank = int_from_env("SLURM_PROCID", 0, 0);
  e.local_rank = int_from_env("SLURM_LOCALID", 0, 0);
  e.local_world_size = int_from_env("SLURM_NTASKS_PER_NODE", slurm_tasks_on_first_node(e.world_size), 1);
  e.group_rank = int_from_env("SLURM_NODEID", 0, 0);
  if (const char* addr = env_text("MASTER_ADDR")) {
    e.master_addr = addr;
  } else if (const char* list = env_text("SLURM_STEP_NODELIST") ? env_text("SLURM_STEP_NODELIST") : env_text("SLURM_JOB_NODELIST")) {
    e.master_addr = first_slurm_host(list);
  } else {
    fail("SLURM_NTASKS={} but neither MASTER_ADDR nor SLURM_JOB_NODELIST is set", e.world_size);
  }
  e.master_port = int_from_env("MASTER_PORT", 29500, 1);
  if (e.rank >= e.world_size) fail("SLURM_PROCID={} is not below SLURM_NTASKS={}", e.rank, e.world_size);
  return e;
}

}  // namespace

LaunchEnvironment launch_environment_from_env() {
  LaunchEnvironment e;
  if (!env_text("WORLD_SIZE") && int_from_env("SLURM_NTASKS", 1, 1) > 1) {
    e = from_slurm();
  } else {
    e.world_size = int_from_env("WORLD_SIZE", 1, 1);
    e.rank = int_from_env("RANK", 0, 0);
    e.local_world_size = int_from_env("LOCAL_WORLD_SIZE", e.world_size, 1);
    e.local_rank = int_from_env("LOCAL_RANK", e.rank % e.local_world_size, 0);
    e.group_rank = int_from_env("GROUP_RANK", e.rank / e.local_world_size, 0);
    e.master_port = int_from_env("MASTER_PORT", 29500, 1);
    if (const char* addr = env_text("MASTER_ADDR")) e.master_addr = addr;
    if (e.rank >= e.world_size) fail("RANK={} is not below WORLD_SIZE={}", e.rank, e.world_size);
    if (e.world_size > 1 && !env_text("MASTER_PORT")) fail("WORLD_SIZE={} but MASTER_PORT is not set", e.world_size);
  }
  if (e.master_port > 65535) fail("MASTER_PORT={} is not a TCP port", e.master_port);
  if (e.local_rank >= e.local_world_size) fail("LOCAL_RANK={} is not below LOCAL_WORLD_SIZE={}", e.local_rank, e.local_world_size);
  return e;
}

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
  std::chrono::milliseconds timeout;
  std::string who;    // "rank 0 of 2 on HOST": which process an error comes from
  std::string where;  // "rank 0 on HOST, rank 1 on HOST2": the group, told at the rendezvous

  void all_reduce(std::vector<torch::Tensor>& tensors, c10d::ReduceOp::RedOpType op);

  void run(c10::intrusive_ptr<c10d::Work> work, const char* what) {
    try {
      work->wait(timeout);
    } catch (const std::exception& e) {
      fail("{}: {} across ranks failed (a rank died, hung past the timeout or lost its connection): {} (the group: {})", who, what,
           std::string(e.what()).substr(0, std::string(e.what()).find('\n')), where);
    }
  }
};

Communicator::Communicator(const CommunicatorOptions& o) : impl_(std::make_unique<Impl>()) {
  rank_ = o.where.rank;
  size_ = o.where.world_size;
  backend_ = o.backend.empty() ? (o.device.is_cuda() ? "nccl" : "gloo") : o.backend;
  impl_->timeout = o.timeout;
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(o.where.master_port);
  store_options.isServer = rank_ == 0;
  store_options.numWorkers = static_cast<std::size_t>(size_);
  store_options.waitWorkers = true;
  store_options.timeout = o.timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.where.master_addr, store_options);
  } catch (const std::exception& e) {
    fail("rank {} of {}: no rendezvous at {}:{} within {} s: {}", rank_, size_, o.where.master_addr, o.where.master_port,
         o.timeout.count() / 1000, std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
  }
  tell_hosts();
  if (backend_ == "gloo") {
    auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
    // Loopback rendezvous: every rank is on this machine and talks over loopback; otherwise the
    // interface that resolves this host's name (GLOO_SOCKET_IFNAME picks another, as in PyTorch).
    const bool local = o.where.master_addr == "127.0.0.1" || o.where.master_addr == "localhost";
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else {
      options->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                       : c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank_, size_, options);
  } else if (backend_ == "nccl") {
#if defined(REPUX_WITH_NCCL)
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = o.timeout;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, rank_, size_, options);
#else
    fail("backend nccl: this build of repux has no NCCL (build with a CUDA LibTorch, scripts/gpu-build.sh); use --dist-backend gloo");
#endif
  } else {
    fail("distributed backend '{}': expected gloo or nccl", backend_);
  }
}

Communicator::~Communicator() = default;

// Each rank writes its host name into the store and reads the others', so that an error later names the
// ranks and their machines ("rank 1 on node2"), not only an address.
void Communicator::tell_hosts() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) std::snprintf(name, sizeof(name), "?");
  const std::string host = name;
  impl_->who = fmt::format("rank {} of {} on {}", rank_, size_, host);
  impl_->store->set(fmt::format("repux/host/{}", rank_), std::vector<uint8_t>(host.begin(), host.end()));
  std::string group;
  for (int r = 0; r < size_; ++r) {
    const auto value = impl_->store->get(fmt::format("repux/host/{}", r));
    group += fmt::format("{}rank {} on {}", r ? ", " : "", r, std::string(value.begin(), value.end()));
  }
  impl_->where = group;
}

void Communicator::Impl::all_reduce(std::vector<torch::Tensor>& tensors, c10d::ReduceOp::RedOpType op) {
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp(op);
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one{t};
    run(group->allreduce(one, options), "all-reduce");
  }
}

struct PendingCollective::State {
  c10::intrusive_ptr<c10d::Work> work;
  Communicator::Impl* impl = nullptr;
  std::vector<torch::Tensor> tensors;  // kept alive while the collective runs
};

void PendingCollective::wait() {
  if (!state_) return;
  const auto state = std::move(state_);
  state->impl->run(state->work, "all-reduce");
}

PendingCollective Communicator::all_reduce_sum_async(torch::Tensor tensor) {
  PendingCollective pending;
  pending.state_ = std::make_shared<PendingCollective::State>();
  pending.state_->impl = impl_.get();
  pending.state_->tensors = {std::move(tensor)};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp(c10d::ReduceOp::SUM);
  pending.state_->work = impl_->group->allreduce(pending.state_->tensors, options);
  return pending;
}

void Communicator::all_reduce_sum(std::vector<torch::Tensor>& tensors) { impl_->all_reduce(tensors, c10d::ReduceOp::SUM); }
void Communicator::all_reduce_max(std::vector<torch::Tensor>& tensors) { impl_->all_reduce(tensors, c10d::ReduceOp::MAX); }

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one{t};
    impl_->run(impl_->group->broadcast(one, options), "broadcast");
  }
}

void broadcast_module_state(torch::nn::Module& module, Communicator& comm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state;
  for (const auto& p : module.parameters()) state.push_back(p);
  for (const auto& b : module.buffers()) state.push_back(b);
  // Collectives need contiguous tensors; copy back where a view had to be made contiguous.
  for (auto& t : state) {
    auto c = t.contiguous();
    std::vector<torch::Tensor> one{c};
    comm.broadcast(one, 0);
    if (!c.is_same(t)) t.copy_(c);
  }
}

bool same_on_all_ranks(double value, Communicator& comm) {
  std::vector<torch::Tensor> t{torch::tensor({value, -value}, torch::kFloat64)};
  comm.all_reduce_max(t);
  // max(v) == v and max(-v) == -v on every rank only when all ranks hold the same v.
  const double hi = t[0][0].item<double>(), lo = -t[0][1].item<double>();
  return hi == value && lo == value;
}

}  // namespace repux
