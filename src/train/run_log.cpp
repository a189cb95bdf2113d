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

constexpr const char* kHeader = "iteration,loss,val_mean_dice";

// One row: "iteration,loss," or "iteration,loss,dice". False for anything else.
bool parse_row(const std::string& line, int64_t& iteration, double& loss, std::optional<double>& dice) {
  std::istringstream in(line);
  std::string cells[3];
  for (auto& cell : cells) std::getline(in, cell, ',');
  try {
    size_t used = 0;
    iteration = std::stoll(cells[0], &used);
    if (used != cells[0].size()) return false;
    loss = std::stod(cells[1]);
    dice = cells[2].empty() ? std::nullopt : std::optional<double>(std::stod(cells[2]));
  } catch (const std::logic_error&) {
    return false;
  }
  return true;
}

}  // namespace

RunLog::RunLog(const std::string& output_dir, int64_t resumed_at)
    : metrics_path_((fs::path(output_dir) / metrics_name()).string()), curves_path_((fs::path(output_dir) / curves_name()).string()) {
  std::string kept = std::string(kHeader) + "\n";
  if (resumed_at > 0) {
    std::ifstream in(metrics_path_);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      int64_t it;
      double loss;
      std::optional<double> dice;
      if (!parse_row(line, it, loss, dice) || it > resumed_at) continue;
      kept += line + "\n";
      loss_.push_back({static_cast<double>(it), loss});
      if (dice) dice_.push_back({static_cast<double>(it), *dice});
    }
  }
  write_file_atomically(metrics_path_, kept);
  metrics_.open(metrics_path_, std::ios::app);
  if (!metrics_) fail("cannot open {} for appending", metrics_path_);
}

void RunLog::on_iteration(const IterationReport& r) {
  std::string dice_cell;
  if (r.validation) {
    dice_cell = fmt::format("{:.6f}", r.validation->mean.dice);
    dice_.push_back({static_cast<double>(r.done), r.validation->mean.dice});
  }
  metrics_ << r.done << "," << r.loss << "," << dice_cell << std::endl;
  if (!metrics_) fail("cannot write {}: disk full or I/O error", metrics_path_);
  loss_.push_back({static_cast<double>(r.done), r.loss});
}

void RunLog::on_end(const RunEnd&) {
  metrics_.close();
  if (!metrics_) fail("cannot write {}: disk full or I/O error", metrics_path_);
  plot_training_curves(loss_, dice_, curves_path_);
}

}  // namespace repux
