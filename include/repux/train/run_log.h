#pragma once
// The run's record in its output folder: metrics.csv (iteration, loss, mean validation Dice), one
// row per iteration, flushed as it is written so that a killed run keeps every completed iteration;
// on resume the file is cut back (atomically) to the checkpoint's iteration, since later rows belong
// to iterations that will run again; training.png with the loss and Dice curves at the end.
#include "repux/train/observer.h"
#include "repux/train/plot.h"

#include <fstream>
#include <string>
#include <vector>

namespace repux {

class RunLog : public TrainingObserver {
 public:
  // `resumed_at`: the checkpoint's iteration (0 starts a new log).
  RunLog(const std::string& output_dir, int64_t resumed_at);

  void on_iteration(const IterationReport& report) override;
  void on_end(const RunEnd& end) override;

  static std::string metrics_name() { return "metrics.csv"; }
  static std::string curves_name() { return "training.png"; }

 private:
  std::string metrics_path_, curves_path_;
  std::ofstream metrics_;
  std::vector<CurvePoint> loss_, dice_;
};

}  // namespace repux
