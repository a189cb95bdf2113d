// Data-parallel training on c10d (Gloo over loopback). Two ranks as two threads of this process (each
// with its own process group) must train exactly like one process on the union of their batches, in
// float64 so that only the order of sums separates them: 3D UX-Net (no BatchNorm) and RepUX-Net with
// synchronised BatchNorm. Then the command line: `repux launch`, a killed rank, a hung rank, resuming
// the last checkpoint with another world size.
#include "fixture_networks.h"
#include "repux/data/synth.h"
#include "repux/dist/communicator.h"
#include "repux/dist/gradient_reducer.h"
#include "repux/error.h"
#include "repux/model/model_file.h"
#include "repux/nn/state_dict.h"
#include "repux/train/training_step.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

using namespace repux;
using repux::test::error_of;

namespace {

struct Batch {
  torch::Tensor image, label;
};

// Batches of step s for rank r: fixed random volumes with a learnable structure (label = intensity band).
Batch make_batch(int step, int rank, int64_t size, int64_t classes) {
  torch::manual_seed(1000 + 10 * step + rank);
  auto image = torch::randn({1, 1, size, size, size}, torch::kFloat64);
  auto label = torch::bucketize(image[0][0], torch::tensor({-0.5, 0.5}, torch::kFloat64)).clamp_max(classes - 1).unsqueeze(0);
  return {image, label.to(torch::kInt64)};
}

Segmenter make_net(const NetworkConfig& config) {
  torch::manual_seed(42);
  auto net = create_network(config);
  net->to(torch::kFloat64);
  net->train();
  return net;
}

// The trainer's own step, with small gradient buckets so that the all-reduce takes several. Returns the
// number of buckets whose all-reduce backward started (overlapped) before the step's finish.
size_t step(Segmenter& net, torch::optim::AdamW& opt, const Batch& b, Communicator* comm, GradientSync sync = GradientSync::Overlapped) {
  TrainingStepOptions options;
  options.gradient_bucket_bytes = 64 * 1024;
  options.gradient_sync = sync;
  TrainingStep training_step(net, opt, options, comm);
  training_step.run(b.image, b.label);
  return training_step.buckets_started_during_backward();
}

std::vector<torch::Tensor> state(const Segmenter& net) {
  std::vector<torch::Tensor> s;
  for (const auto& p : net->parameters()) s.push_back(p.detach().clone());
  for (const auto& b : net->buffers()) s.push_back(b.detach().clone());
  return s;
}

// Trains `steps` steps on two ranks (threads) and on one process with both ranks' batches; checks the
// ranks agree exactly and returns the largest difference from the single process (relative to each
// tensor's scale), or -1 when something failed.
torch::optim::AdamWOptions adamw() { return torch::optim::AdamWOptions(1e-3).weight_decay(0.01); }

// Two ranks (threads, one intra-op thread each) train `steps` steps on their own batches. Returns the
// two replicas (empty when a rank failed) and, through `overlapped`, how many bucket all-reduces started
// during backward in all.
std::vector<Segmenter> train_two_ranks(const NetworkConfig& config, bool sync_bn, int steps, GradientSync sync, size_t* overlapped = nullptr) {
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  std::vector<Segmenter> ranks{make_net(config), make_net(config)};
  std::vector<Batch> batches[2];
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < steps; ++s) batches[r].push_back(make_batch(s, r, 32, config.out_channels));
  const int port = free_tcp_port();
  std::vector<std::string> errors(2);
  std::vector<size_t> started(2, 0);
  std::vector<std::thread> workers;
  for (int r = 0; r < 2; ++r) {
    workers.emplace_back([&, r] {
      try {
        CommunicatorOptions co;
        co.where.rank = r;
        co.where.world_size = 2;
        co.where.master_port = port;
        co.timeout = std::chrono::seconds(60);
        Communicator comm(co);
        if (sync_bn) EXPECT_GT(ranks[r]->synchronize_batch_norm(&comm), 0);
        broadcast_module_state(*ranks[r], comm);
        torch::optim::AdamW opt(ranks[r]->parameters(), adamw());
        for (int s = 0; s < steps; ++s) started[r] += step(ranks[r], opt, batches[r][s], &comm, sync);
        ranks[r]->synchronize_batch_norm(nullptr);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& w : workers) w.join();
  torch::set_num_threads(threads);
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  if (overlapped) *overlapped = started[0] + started[1];
  if (!errors[0].empty() || !errors[1].empty()) return {};
  return ranks;
}

double two_ranks_vs_union_batch(const NetworkConfig& config, bool sync_bn, int steps) {
  const int64_t size = 32, classes = config.out_channels;
  Segmenter single = make_net(config);
  torch::optim::AdamW single_opt(single->parameters(), adamw());
  for (int s = 0; s < steps; ++s) {
    const Batch a = make_batch(s, 0, size, classes), b = make_batch(s, 1, size, classes);
    step(single, single_opt, {torch::cat({a.image, b.image}), torch::cat({a.label, b.label})}, nullptr);
  }
  auto ranks = train_two_ranks(config, sync_bn, steps, GradientSync::Overlapped);
  if (ranks.empty()) return -1;

  const auto want = state(single), got0 = state(ranks[0]), got1 = state(ranks[1]);
  EXPECT_EQ(want.size(), got0.size());
  if (want.size() != got0.size()) return -1;
  double worst = 0;
  int64_t moved = 0;
  const auto initial = state(*std::make_unique<Segmenter>(make_net(config)));
  for (size_t i = 0; i < want.size(); ++i) {
    // Parameters always agree; BatchNorm running statistics only when synchronised (local ones are local).
    const bool is_parameter = i < single->parameters().size();
    if (is_parameter || sync_bn) EXPECT_TRUE(torch::equal(got0[i], got1[i])) << "tensor " << i << " differs between the ranks";
    if (!want[i].is_floating_point()) {
      EXPECT_TRUE(torch::equal(got0[i], want[i])) << "tensor " << i;
      continue;
    }
    const double scale = std::max(want[i].abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (got0[i] - want[i]).abs().max().item<double>() / scale);
    moved += !torch::equal(want[i], initial[i]);
  }
  EXPECT_GT(moved, static_cast<int64_t>(want.size() / 2)) << "training did not move the weights: the comparison is void";
  std::printf("two ranks vs one process: largest relative difference %.3g\n", worst);
  return worst;
}

}  // namespace

TEST(Distributed, LaunchEnvironmentFollowsTorchrunAndNamesBadValues) {
  auto with_env = [](std::vector<std::pair<std::string, std::string>> vars, auto&& body) {
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
    body();
    for (const auto& [k, v] : vars) ::unsetenv(k.c_str());
  };
  const LaunchEnvironment single = launch_environment_from_env();
  EXPECT_EQ(single.world_size, 1);
  EXPECT_EQ(single.rank, 0);
  with_env({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "1234"}}, [] {
    const LaunchEnvironment e = launch_environment_from_env();
    EXPECT_EQ(e.world_size, 4);
    EXPECT_EQ(e.rank, 3);
    EXPECT_EQ(e.local_rank, 1);
    EXPECT_EQ(e.master_addr, "node7");
    EXPECT_EQ(e.master_port, 1234);
  });
  with_env({{"WORLD_SIZE", "two"}}, [] {
    try {
      launch_environment_from_env();
      ADD_FAILURE() << "accepted WORLD_SIZE=two";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("WORLD_SIZE='two'"), std::string::npos) << e.what();
    }
  });
  with_env({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_PORT", "1"}}, [] { EXPECT_THROW(launch_environment_from_env(), Error); });
}

// SLURM's variables under srun, below torchrun's in precedence; its host lists.
TEST(Distributed, LaunchEnvironmentReadsSlurmWhenTorchrunsVariablesAreAbsent) {
  auto with_env = [](std::vector<std::pair<std::string, std::string>> vars, auto&& body) {
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
    body();
    for (const auto& [k, v] : vars) ::unsetenv(k.c_str());
  };
  EXPECT_EQ(first_slurm_host("gpu[003-005,010],cpu01"), "gpu003");
  EXPECT_EQ(first_slurm_host("node7"), "node7");
  EXPECT_EQ(first_slurm_host("a01,b[1-2]"), "a01");
  EXPECT_EQ(first_slurm_host("rack[2-3]-n[1,4],x"), "rack2-n1");
  const std::vector<std::pair<std::string, std::string>> slurm{{"SLURM_NTASKS", "4"},   {"SLURM_PROCID", "3"},
                                                               {"SLURM_LOCALID", "1"},  {"SLURM_NODEID", "1"},
                                                               {"SLURM_STEP_TASKS_PER_NODE", "2(x2)"},
                                                               {"SLURM_JOB_NODELIST", "cn[07-08]"}};
  with_env(slurm, [] {
    const LaunchEnvironment e = launch_environment_from_env();
    EXPECT_EQ(e.world_size, 4);
    EXPECT_EQ(e.rank, 3);
    EXPECT_EQ(e.local_rank, 1);
    EXPECT_EQ(e.local_world_size, 2);
    EXPECT_EQ(e.group_rank, 1);
    EXPECT_EQ(e.master_addr, "cn07");
    EXPECT_EQ(e.master_port, 29500);
  });
  // torchrun's variables win (a `repux launch` inside an allocation).
  auto both = slurm;
  both.insert(both.end(), {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1234"}});
  with_env(both, [] {
    const LaunchEnvironment e = launch_environment_from_env();
    EXPECT_EQ(e.world_size, 2);
    EXPECT_EQ(e.master_addr, "127.0.0.1");
  });
  with_env({{"SLURM_NTASKS", "2"}, {"SLURM_PROCID", "0"}}, [] {
    EXPECT_NE(error_of([] { launch_environment_from_env(); }).find("neither MASTER_ADDR nor SLURM_JOB_NODELIST"), std::string::npos);
  });
}

TEST(Distributed, TwoRanksTrainUxNetLikeOneProcessOnTheUnionBatch) {
  const double worst = two_ranks_vs_union_batch(test::reduced_uxnet(), /*sync_bn=*/false, 3);
  EXPECT_GE(worst, 0);
  EXPECT_LT(worst, 1e-6);
}

// Buckets all-reduced during backward (autograd hooks) give the same weights, bit for bit, as the same
// buckets all-reduced after backward; with synchronised BatchNorm, whose backward has collectives of its
// own among the buckets'. The count of buckets started during backward shows the overlap took place.
TEST(Distributed, GradientsReducedDuringBackwardEqualAfterBackwardBitForBit) {
  const NetworkConfig config = test::reduced_repuxnet(3);
  size_t overlapped = 0, after = 0;
  const auto during = train_two_ranks(config, /*sync_bn=*/true, 3, GradientSync::Overlapped, &overlapped);
  const auto later = train_two_ranks(config, /*sync_bn=*/true, 3, GradientSync::AfterBackward, &after);
  ASSERT_EQ(during.size(), 2u);
  ASSERT_EQ(later.size(), 2u);
  EXPECT_GT(overlapped, 0u) << "no bucket was all-reduced during backward";
  EXPECT_EQ(after, 0u);
  const auto a = state(during[0]), b = state(later[0]);
  const auto initial = state(*std::make_unique<Segmenter>(make_net(config)));
  int64_t moved = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i << " differs";
    moved += !torch::equal(a[i], initial[i]);
  }
  EXPECT_GT(moved, static_cast<int64_t>(a.size() / 2)) << "training did not move the weights: the comparison is void";
}

TEST(Distributed, TwoRanksTrainRepUxNetWithSyncBatchNormLikeOneProcess) {
  const double worst = two_ranks_vs_union_batch(test::reduced_repuxnet(3), /*sync_bn=*/true, 3);
  EXPECT_GE(worst, 0);
  EXPECT_LT(worst, 1e-6);
  // Control: with per-rank BatchNorm statistics the two runs do differ, so the check has teeth.
  EXPECT_GT(two_ranks_vs_union_batch(test::reduced_repuxnet(3), /*sync_bn=*/false, 3), 1e-4);
}

// ---- the command line ----

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> small_training(const repux::test::TempDir& dir, const std::string& out, int iterations) {
  return {"train", "-d", dir.file("data"), "-o", dir.file(out), "--arch", "uxnet", "--classes", "4", "--dims", "4", "8", "16", "32",
          "--hidden", "16", "--patch", "32", "--spacing", "4", "--iterations", std::to_string(iterations), "--val-every", "3",
          "--log-every", "1", "--dist-timeout", "15"};
}

}  // namespace

TEST(Distributed, LaunchRunsTwoRanksAndOnlyRankZeroWrites) {
  repux::test::TempDir dir;
  write_synthetic_dataset(dir.file("data"), 5, 1, SynthOptions{20, 24, true, 20.0});
  auto args = small_training(dir, "run", 6);
  std::string command = "launch -n 2 --";
  for (const auto& a : args) command += " " + a;
  command += " --threads 1";  // as the two-node run below: the same arithmetic, bit for bit
  const auto r = repux::test::run_repux(command);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("data-parallel: 2 ranks (gloo)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("weights identical on all 2 ranks"), std::string::npos) << r.output;
  // One log with one row per iteration: the other rank wrote nothing.
  std::ifstream log(dir.file("run/metrics.csv"));
  std::string line;
  int rows = -1;
  while (std::getline(log, line)) ++rows;
  EXPECT_EQ(rows, 6);
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/last.repux")));

  // The same two ranks as two "nodes" (--nnodes 2, one launch each, one rank per node): both finish
  // and the model is the one the single-machine launch trained, bit for bit.
  const int port = free_tcp_port();
  std::string node = "launch --nnodes 2 --master-addr 127.0.0.1 --master-port " + std::to_string(port) + " -n 1 --node-rank ";
  std::string train;
  for (const auto& a : small_training(dir, "nodes", 6)) train += " " + a;
  train += " --threads 1";
  const auto nodes = repux::test::run_command("(" + std::string(REPUX_BINARY) + " " + node + "1 --" + train + " >" + dir.file("node1.log") +
                                              " 2>&1; echo $? >" + dir.file("node1.rc") + ") & " + REPUX_BINARY + " " + node + "0 --" + train +
                                              " 2>&1; wait");
  EXPECT_NE(nodes.output.find("on node 0 of 2 (2 ranks in all"), std::string::npos) << nodes.output;
  EXPECT_NE(nodes.output.find("weights identical on all 2 ranks"), std::string::npos) << nodes.output;
  EXPECT_EQ(read_text(dir.file("node1.rc")), "0\n") << read_text(dir.file("node1.log"));
  auto one_machine = load_model(dir.file("run/last.repux")), two_nodes = load_model(dir.file("nodes/last.repux"));
  const auto a = state_dict(one_machine.net, KernelForm::Effective), b = state_dict(two_nodes.net, KernelForm::Effective);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_NE(repux::test::run_repux("launch --nnodes 2 --node-rank 0 -n 1 -- info x").output.find("give --master-port"), std::string::npos);

  // Under srun: SLURM's variables set by hand (no torchrun variables), master from the node list. The
  // same model again.
  std::string slurm_train;
  for (const auto& a : small_training(dir, "slurm", 6)) slurm_train += " " + a;
  slurm_train += " --threads 1";
  const int slurm_port = free_tcp_port();
  const auto slurm_rank = [&](int rank) {
    return fmt::format("env SLURM_NTASKS=2 SLURM_PROCID={0} SLURM_LOCALID={0} SLURM_NODEID=0 SLURM_JOB_NODELIST=localhost MASTER_PORT={1} {2}{3}",
                       rank, slurm_port, REPUX_BINARY, slurm_train);
  };
  const std::string rank0 = slurm_rank(0), rank1 = slurm_rank(1);
  const auto srun = repux::test::run_command("(" + rank1 + " >" + dir.file("slurm1.log") + " 2>&1) & " + rank0 + " 2>&1; wait");
  EXPECT_NE(srun.output.find("data-parallel: 2 ranks"), std::string::npos) << srun.output << read_text(dir.file("slurm1.log"));
  auto under_slurm = load_model(dir.file("slurm/last.repux"));
  const auto c = state_dict(under_slurm.net, KernelForm::Effective);
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, c[i].second)) << a[i].first;

  // A rank that fails makes launch fail too, naming it.
  const auto bad = repux::test::run_repux("launch -n 2 -- train -d " + dir.file("no-such-data") + " -o " + dir.file("x"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("repux launch: rank"), std::string::npos) << bad.output;
}

TEST(Distributed, KilledOrHungRankStopsTheOtherWithAnErrorAndTheCheckpointResumes) {
  repux::test::TempDir dir;
  write_synthetic_dataset(dir.file("data"), 5, 1, SynthOptions{20, 24, true, 20.0});
  for (const bool hang : {false, true}) {
    SCOPED_TRACE(hang ? "hung rank (SIGSTOP)" : "killed rank (SIGKILL)");
    const std::string out = hang ? "hung" : "killed";
    const auto args = small_training(dir, out, 100000);
    const std::string port = std::to_string(free_tcp_port());
    auto env = [&](int rank) {
      return std::vector<std::pair<std::string, std::string>>{
          {"WORLD_SIZE", "2"}, {"RANK", std::to_string(rank)}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}, {"LOCAL_WORLD_SIZE", "2"}};
    };
    const pid_t rank0 = test::spawn_repux(args, env(0), dir.file(out + "0.log"));
    const pid_t rank1 = test::spawn_repux(args, env(1), dir.file(out + "1.log"));
    // Mid-run: once a checkpoint exists (about 10 s alone; the bound leaves room for a 2-core machine
    // running another heavy test beside this one, where 120 s once did not suffice).
    test::wait_until([&] { return std::filesystem::exists(dir.file(out + "/checkpoint.pt")); }, 300);
    ASSERT_TRUE(std::filesystem::exists(dir.file(out + "/checkpoint.pt"))) << read_text(dir.file(out + "0.log"));
    ::kill(rank1, hang ? SIGSTOP : SIGKILL);
    const auto t0 = std::chrono::steady_clock::now();
    const int code = test::wait_for_exit(rank0, 90);
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ::kill(rank1, SIGKILL);
    ::waitpid(rank1, nullptr, 0);
    const std::string log = read_text(dir.file(out + "0.log"));
    EXPECT_EQ(code, 1) << "rank 0 did not stop with an error (-1: still running after 90 s)\n" << log;
    EXPECT_NE(log.find("across ranks failed"), std::string::npos) << log;
    if (hang) EXPECT_GT(waited, 10.0) << "a hung rank is only detected by the timeout (15 s)";

    // The last checkpoint is intact: a single process resumes from it and finishes.
    torch::serialize::InputArchive archive;
    archive.load_from(dir.file(out + "/checkpoint.pt"));
    torch::Tensor it;
    archive.read("iteration", it);
    auto resume = small_training(dir, out, static_cast<int>(it.item<int64_t>()) + 2);
    std::string command;
    for (const auto& a : resume) command += a + " ";
    const auto r = repux::test::run_repux(command + "--resume");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  }
}

// NCCL on this machine's GPU (one GPU: a group of one; several GPUs are needed for more ranks).
TEST(Distributed, NcclGroupOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  CommunicatorOptions co;
  co.where.master_port = free_tcp_port();
  co.backend = "nccl";
  co.device = torch::Device(torch::kCUDA, 0);
  co.timeout = std::chrono::seconds(60);
  std::unique_ptr<Communicator> comm;
  try {
    comm = std::make_unique<Communicator>(co);
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();  // a CUDA build without NCCL headers
  }
  std::vector<torch::Tensor> t{torch::arange(6, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kFloat32))};
  comm->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t[0].cpu(), torch::arange(6, torch::kFloat32)));
  auto grads_of = torch::ones({3}, torch::TensorOptions().device(torch::kCUDA)).requires_grad_(true);
  GradientReducer reducer({grads_of}, *comm, GradientSync::Overlapped);
  reducer.prepare();
  (grads_of * 2).sum().backward();
  reducer.finish();
  EXPECT_EQ(reducer.started_during_backward(), 1u);
  EXPECT_TRUE(torch::equal(grads_of.grad().cpu(), torch::full({3}, 2.0f)));
}
