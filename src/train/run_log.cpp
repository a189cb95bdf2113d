#include "repux/train/run_log.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace repux {
namespace {

// One row: "iteration,loss" then the validation cells (mean Dice, each class's), empty in rows without
// validation. False for anything else.
struct Row {
  int64_t iteration = 0;
  double loss = 0;
  std::vector<double> dice;  // mean, then per class; empty without validation
};

bool parse_row(const std::string& line, Row& row) {
  std::istringstream in(line);
  std::vector<std::string> cells;
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  if (cells.size() < 2) return false;
  try {
    size_t used = 0;
    row.iteration = std::stoll(cells[0], &used);
    if (used != cells[0].size()) return false;
    row.loss = std::stod(cells[1]);
    for (size_t i = 2; i < cells.size() && !cells[i].empty(); ++i) row.dice.push_back(std::stod(cells[i]));
  } catch (const std::logic_error&) {
    return false;
  }
  return true;
}

}  // namespace

RunLog::RunLog(const std::string& output_dir, int64_t resumed_at, const std::vector<std::string>& class_names)
    : metrics_path_((fs::path(output_dir) / metrics_name()).string()), curves_path_((fs::path(output_dir) / curves_name()).string()) {
  std::string kept = "iteration,loss,val_mean_dice";
  for (const auto& name : class_names) {
    kept += ",val_dice_" + name;
    per_class_.push_back({name, {}});
  }
  kept += "\n";
  if (resumed_at > 0) {
    std::ifstream in(metrics_path_);
    std::string line;
    std::getline(in, line);
    for (Row row; std::getline(in, line); row = Row()) {
      if (!parse_row(line, row) || row.iteration > resumed_at) continue;
      kept += line + "\n";
      record({static_cast<double>(row.iteration), row.loss}, row.dice);
    }
  }
  write_file_atomically(metrics_path_, kept);
  metrics_.open(metrics_path_, std::ios::app);
  if (!metrics_) fail("cannot open {} for appending", metrics_path_);
}

void RunLog::record(const CurvePoint& loss, const std::vector<double>& dice) {
  loss_.push_back(loss);
  if (dice.empty()) return;
  dice_.push_back({loss.x, dice[0]});
  for (size_t k = 0; k + 1 < dice.size() && k < per_class_.size(); ++k) per_class_[k].points.push_back({loss.x, dice[k + 1]});
}

void RunLog::on_iteration(const IterationReport& r) {
  std::vector<double> dice;
  std::string cells;
  if (r.validation) {
    dice.push_back(r.validation->mean.dice);
    for (const ClassMetrics& m : r.validation->mean_per_class) dice.push_back(m.dice);
    for (double d : dice) cells += fmt::format(",{:.6f}", d);
  }
  metrics_ << r.done << "," << r.loss << cells << std::endl;
  if (!metrics_) fail("cannot write {}: disk full or I/O error", metrics_path_);
  record({static_cast<double>(r.done), r.loss}, dice);
}

void RunLog::on_end(const RunEnd&) {
  metrics_.close();
  if (!metrics_) fail("cannot write {}: disk full or I/O error", metrics_path_);
  plot_training_curves(loss_, dice_, curves_path_, per_class_);
}

}  // namespace repux
