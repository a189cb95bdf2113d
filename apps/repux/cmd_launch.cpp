// `repux launch -n N -- train ...`: starts N ranks of a repux command on this machine with the
// environment variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
// MASTER_ADDR, MASTER_PORT), and, like torchrun, stops the others when one fails. Several machines:
// the same command on each with --nnodes, its --node-rank, and the first node's --master-addr and
// --master-port (as torchrun's static rendezvous).
#include "commands.h"

#include "repux/dist/communicator.h"
#include "repux/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

namespace repux::cli {
namespace {

struct LaunchArgs {
  int ranks = 2;  // on this node
  int nnodes = 1, node_rank = 0;
  int port = 0;
  std::string master_addr = "127.0.0.1";
  double grace_seconds = 30;
  std::vector<std::string> command;
};

std::vector<pid_t> g_children;  // for the signal handler: Ctrl-C reaches every rank

void forward_signal(int sig) {
  for (pid_t p : g_children) {
    if (p > 0) ::kill(p, sig);
  }
}

std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "stopped";
}

int run_launch(const LaunchArgs& a) {
  if (a.command.empty()) fail("launch: no command; usage: repux launch -n 2 -- train -d data -o run ...");
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) fail("launch: cannot find this program's path");
  exe[n] = '\0';
  if (a.node_rank >= a.nnodes) fail("--node-rank {} is not below --nnodes {}", a.node_rank, a.nnodes);
  if (a.nnodes > 1 && !a.port) fail("--nnodes {}: give --master-port, the same on every node (rank 0's node listens on it)", a.nnodes);
  const int port = a.port ? a.port : free_tcp_port();
  const int world = a.nnodes * a.ranks;
  fmt::print("launch: {} ranks of `repux {}` on node {} of {} ({} ranks in all; MASTER_ADDR={} MASTER_PORT={})\n", a.ranks, fmt::join(a.command, " "),
             a.node_rank, a.nnodes, world, a.master_addr, port);
  std::fflush(stdout);

  g_children.assign(a.ranks, 0);
  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  for (int r = 0; r < a.ranks; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) fail("launch: fork failed for rank {}", r);
    if (pid == 0) {
      ::setenv("RANK", std::to_string(a.node_rank * a.ranks + r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(a.ranks).c_str(), 1);
      ::setenv("GROUP_RANK", std::to_string(a.node_rank).c_str(), 1);
      ::setenv("MASTER_ADDR", a.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv{exe};
      for (const auto& s : a.command) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      ::execv(exe, argv.data());
      ::_exit(127);
    }
    g_children[r] = pid;
  }

  // Wait for every rank. After the first failure the others get `grace_seconds` to notice it on their
  // own (their collectives fail), then SIGTERM, then SIGKILL: no rank outlives the launcher.
  int remaining = a.ranks, exit_code = 0;
  auto deadline = std::chrono::steady_clock::time_point::max();
  bool terminated = false;
  while (remaining > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      int rank = 0;
      while (rank < a.ranks && g_children[rank] != pid) ++rank;
      if (rank == a.ranks) continue;
      g_children[rank] = 0;
      --remaining;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && exit_code == 0) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        fmt::print(stderr, "repux launch: rank {} {}; stopping the other ranks\n", rank, describe(status));
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(a.grace_seconds * 1000));
      }
      continue;
    }
    if (pid < 0) break;
    const auto now = std::chrono::steady_clock::now();
    if (now > deadline) {
      forward_signal(terminated ? SIGKILL : SIGTERM);
      terminated = true;
      deadline = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return exit_code;
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto la = std::make_shared<LaunchArgs>();
  auto* l = app.add_subcommand("launch", "Run N data-parallel ranks of a command on this machine, or on each of several (torchrun's variables)");
  l->add_option("-n,--ranks,--nproc-per-node", la->ranks, "Ranks (processes) on this machine")->capture_default_str()->check(CLI::Range(1, 1024));
  l->add_option("--nnodes", la->nnodes, "Machines taking part, each running this launch with its --node-rank")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  l->add_option("--node-rank", la->node_rank, "This machine's place among them, 0 to nnodes - 1 (0 listens for the rendezvous)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4095));
  l->add_option("--master-port,--port", la->port, "Rendezvous TCP port on the --master-addr machine (default with one node: a free one)");
  l->add_option("--master-addr", la->master_addr, "Rendezvous address: node 0's")->capture_default_str();
  l->add_option("--grace", la->grace_seconds, "Seconds the other ranks get to stop on their own after one fails")->capture_default_str();
  l->add_option("command", la->command, "The repux command each rank runs, after --")->required();
  l->callback([la] {
    const int code = run_launch(*la);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace repux::cli
