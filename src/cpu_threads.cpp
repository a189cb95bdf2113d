#include "repux/cpu_threads.h"

#include <torch/torch.h>

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

std::string blas_threads_description() {
  auto get = openblas_function<int (*)()>("openblas_get_num_threads");
  if (!get) return "";
  const int n = get();
  return "OpenBLAS: " + std::to_string(n) + (n == 1 ? " thread" : " threads");
}

}  // namespace repux
