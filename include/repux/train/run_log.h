#pragma once
// The run's record in its output folder: metrics.csv (iteration, loss, mean validation Dice, each
// class's validation Dice: val_dice_NAME), one row per iteration, flushed as it is written so that a killed run keeps every completed iteration;
// on resume the file is cut back (atomically) to the checkpoint's iteration, since later rows belong
// to iterations that will run again; training.png with the loss and Dice curves (mean and per class) at the end.
#include "repux/train/observer.h"
#include "repux/train/plot.h"

#include <fstream>
#include <string>
#include <vector>

namespace repux {

class RunLog : public TrainingObserver {
 public:
  // `resumed_at`: the checkpoint's iteration (0 starts a new log); `class_names`: the classes
  // validation scores, in its order (background excluded).
  RunLog(const std::string& output_dir, int64_t resumed_at, const std::vector<std::string>& class_names);

  void on_iteration(const IterationReport& report) override;
  void on_end(const RunEnd& end) override;

  static std::string metrics_name() { return "metrics.csv"; }
  static std::string curves_name() { return "training.png"; }

 private:
  void record(const CurvePoint& loss, const std::vector<double>& dice);  // dice: mean, then per class (or none)

  std::string metrics_path_, curves_path_;
  std::ofstream metrics_;
  std::vector<CurvePoint> loss_, dice_;
  std::vector<NamedCurve> per_class_;
};

}  // namespace repux
