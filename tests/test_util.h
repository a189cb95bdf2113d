#pragma once
// Helpers shared by the tests: fixture paths, temporary directories and running the `repux` program.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace repux::test {

inline std::string data_path(const std::string& relative) { return std::string(REPUX_TEST_DATA) + "/" + relative; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline torch::Tensor tensor_from_json(const nlohmann::json& values) {
  return torch::tensor(values.get<std::vector<double>>(), torch::kFloat64);
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A fresh directory under the system temp dir, removed when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("repux-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing what it prints; a process killed by a signal gives -1.
inline CommandResult run_command(const std::string& command) {
  CommandResult result{0, ""};
  FILE* pipe = ::popen(command.c_str(), "r");
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe)) result.output += buffer;
  const int status = pipe ? ::pclose(pipe) : -1;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Runs the built `repux` program with the given arguments (a shell-quoted string).
inline CommandResult run_repux(const std::string& arguments) {
  return run_command(std::string(REPUX_BINARY) + " " + arguments + " 2>&1 </dev/null");
}

// Starts `repux ARGS` with extra environment variables, its output to `log`; returns at once.
inline pid_t spawn_repux(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                         const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    (void)out;
    ::dup2(::fileno(stdout), 2);
    std::vector<char*> argv{const_cast<char*>(REPUX_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(REPUX_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Polls `done` every 50 ms until it holds or `seconds` pass (a bound for a loaded 2-core machine, not a
// timing): the tests wait on events such as a file appearing, never on fixed sleeps.
inline bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// Exit code (128 + signal when killed), or -1 if it did not end within `seconds` (then it is killed).
inline int wait_for_exit(pid_t pid, double seconds) {
  int status = 0;
  const bool ended = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, seconds);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The message of the repux::Error that `f` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// A 4x4 affine stored by the fixture scripts as a list of rows.
inline torch::Tensor affine_from_json(const nlohmann::json& rows) {
  std::vector<double> flat;
  for (const auto& row : rows)
    for (const auto& v : row) flat.push_back(v.get<double>());
  return torch::tensor(flat, torch::kFloat64).reshape({4, 4});
}

inline double relative_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  auto a = actual.to(torch::kFloat64), e = expected.to(torch::kFloat64);
  return ((a - e).norm() / e.norm().clamp_min(1e-300)).item<double>();
}

}  // namespace repux::test
