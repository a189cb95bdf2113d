#include "repux/train/data_source.h"

#include "repux/cpu_threads.h"
#include "repux/error.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace repux {
namespace {

// Workers produce the batch of each iteration from its own seed, ahead of time, into a bounded map;
// the training loop takes them in order. Whatever the timing, iteration i always sees the same batch.
class BatchSource : public TrainingDataSource {
 public:
  BatchSource(std::shared_ptr<const CropSource> crops, const BatchSourceOptions& options)
      : crops_(std::move(crops)), o_(options), next_(options.first), consumed_(options.first) {
    for (int w = 0; w < std::max(1, o_.workers); ++w) threads_.emplace_back([this] { work(); });
  }
  ~BatchSource() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  Batch batch(int64_t iteration) override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return ready_.count(iteration) || error_; });
    if (error_) throw Error(error_message_);
    Batch b = std::move(ready_[iteration]);
    ready_.erase(iteration);
    consumed_ = iteration + 1;
    cv_.notify_all();
    return b;
  }

 private:
  void work() {
    torch::NoGradGuard no_grad;
    run_parallel_loops_on_this_thread_only();  // the training loop keeps the cores' team
    while (true) {
      int64_t i;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || (next_ < o_.end && next_ < consumed_ + o_.queue_size); });
        if (stop_) return;
        i = next_++;
      }
      try {
        Batch b = sample_batch(*crops_, o_.seed * 1000003ULL + static_cast<uint64_t>(i), o_.patch, o_.sampler, o_.augment_device);
        std::lock_guard<std::mutex> lock(mutex_);
        ready_[i] = std::move(b);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = true;
        error_message_ = e.what();
      }
      cv_.notify_all();
    }
  }

  const std::shared_ptr<const CropSource> crops_;
  const BatchSourceOptions o_;
  int64_t next_, consumed_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::vector<std::thread> threads_;
  bool stop_ = false, error_ = false;
  std::string error_message_;
};

}  // namespace

std::unique_ptr<TrainingDataSource> batch_source(std::shared_ptr<const CropSource> crops, const BatchSourceOptions& options) {
  return std::make_unique<BatchSource>(std::move(crops), options);
}

}  // namespace repux
