#include "repux/cpu_threads.h"

#include "repux/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <omp.h>

namespace repux {
namespace {

// Looked up at run time: the BLAS behind libblas.so.3 is the system's choice, and only OpenBLAS
// exports these.
template <typename F>
F openblas_function(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_DEFAULT, name));
}

}  // namespace

void set_cpu_threads(int threads) {
  torch::set_num_threads(threads);
  if (auto set = openblas_function<void (*)(int)>("openblas_set_num_threads")) set(1);
}

void run_parallel_loops_on_this_thread_only() {
  at::internal::lazy_init_num_threads();  // first, or LibTorch's own lazy set-up would undo the next line
  omp_set_num_threads(1);                 // this thread's OpenMP setting only
}

void for_each_on_threads(size_t count, int threads, const std::function<void(size_t)>& work, const std::function<void()>& after_each) {
  const int workers = std::max(1, std::min<int>(threads, static_cast<int>(count)));
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::string error;
  auto run = [&] {
    if (workers > 1) run_parallel_loops_on_this_thread_only();
    for (size_t i = next++; i < count; i = next++) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error.empty()) return;
      }
      try {
        work(i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (error.empty()) error = first_line(e.what());
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (after_each) after_each();
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(run);
  for (auto& t : pool) t.join();
  if (!error.empty()) throw Error(error);
}

std::string blas_threads_description() {
  auto get = openblas_function<int (*)()>("openblas_get_num_threads");
  if (!get) return "";
  const int n = get();
  return "OpenBLAS: " + std::to_string(n) + (n == 1 ? " thread" : " threads");
}

}  // namespace repux
