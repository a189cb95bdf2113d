#include "repux/train/data_source.h"

#include "repux/error.h"
#include "repux/io/volume_file.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace repux {
namespace {

// Workers produce the batch of each iteration from its own seed, ahead of time, into a bounded map;
// the training loop takes them in order. Whatever the timing, iteration i always sees the same batch.
class InMemorySource : public TrainingDataSource {
 public:
  InMemorySource(std::vector<PreparedCase> cases, const InMemorySourceOptions& options)
      : cases_(std::move(cases)), o_(options), next_(options.first), consumed_(options.first) {
    for (int w = 0; w < std::max(1, o_.workers); ++w) threads_.emplace_back([this] { work(); });
  }
  ~InMemorySource() override {
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
    while (true) {
      int64_t i;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || (next_ < o_.end && next_ < consumed_ + o_.queue_size); });
        if (stop_) return;
        i = next_++;
      }
      try {
        Batch b = sample_batch(cases_, o_.seed * 1000003ULL + static_cast<uint64_t>(i), o_.patch, o_.sampler);
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

  const std::vector<PreparedCase> cases_;
  const InMemorySourceOptions o_;
  int64_t next_, consumed_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::vector<std::thread> threads_;
  bool stop_ = false, error_ = false;
  std::string error_message_;
};

}  // namespace

std::vector<PreparedCase> prepare_cases(const std::vector<CaseFiles>& files, const PreprocessRecipe& recipe, int64_t classes) {
  std::vector<PreparedCase> out;
  for (const auto& f : files) {
    if (f.label.empty()) fail("{}: training case has no label", f.image);
    const Volume image = read_volume(f.image, allowing_channels());
    const Volume label = read_label_volume(f.label, image.grid());
    PreparedCase c = preprocess(image, recipe, &label);
    if (c.label.max().item<int64_t>() >= classes) fail("{}: label {} >= number of classes {}", f.label, c.label.max().item<int64_t>(), classes);
    out.push_back(std::move(c));
  }
  return out;
}

std::unique_ptr<TrainingDataSource> in_memory_source(std::vector<PreparedCase> cases, const InMemorySourceOptions& options) {
  return std::make_unique<InMemorySource>(std::move(cases), options);
}

}  // namespace repux
