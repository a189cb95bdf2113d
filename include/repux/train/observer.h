#pragma once
// What a training run tells the outside while it runs. The trainer neither prints nor plots: it
// reports to observers, called on the main rank only. The run log (metrics.csv and the curves) is
// one; the command line's progress lines are another.
#include "repux/eval/evaluation_summary.h"

#include <cstdint>
#include <optional>
#include <string>

namespace repux {

struct RunStart {
  size_t training_cases = 0, validation_cases = 0;
  std::string store;             // the case store the crops are read from
  size_t preprocessed_cases = 0; // cases preprocessed into it by this run (0: all were there)
  double prepare_seconds = 0;    // preprocessing (when needed) and opening the store
  int64_t resumed_at = 0;        // iterations already done (0: a new run)
  int ranks = 1;
  std::string backend;           // data-parallel backend ("" for one process)
  bool sync_batch_norm = false;
  std::string gradient_sync;     // "overlapped" or "after-backward"
  int64_t global_batch = 0;      // crops per iteration over all ranks
  std::vector<std::string> class_names;
};

struct IterationReport {
  int64_t done = 0;        // iterations completed, this one included
  int64_t iterations = 0;  // of the whole run
  double loss = 0;         // mean over the ranks
  std::optional<EvaluationSummary> validation;  // when this iteration ended with a validation
  double best_dice = -1;   // best mean validation Dice so far (-1: none yet)
  int64_t best_iteration = 0;
  double iterations_per_second = 0;   // since the start of this process's run
  double data_wait_fraction = 0;      // share of the step time spent waiting for batches
  double gradient_wait_fraction = 0;  // share spent waiting on the gradient all-reduce after backward
};

struct RunEnd {
  int64_t iterations = 0;
  int ranks = 1;  // > 1: the replicas were checked identical
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void on_start(const RunStart&) {}
  virtual void on_iteration(const IterationReport&) {}
  virtual void on_end(const RunEnd&) {}
};

}  // namespace repux
