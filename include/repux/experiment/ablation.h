#pragma once
// The kernel-size x re-parameterisation ablation of RepUX-Net's claim, against nnU-Net's ResEnc
// baseline: every cell of the grid is trained under identical data, seeds and iteration budget,
// evaluated on the dataset's held-out (validation) cases, and its ERF measured. Each (cell, seed)
// leaves one result file; a cell whose file exists is not trained again, so an interrupted ablation
// goes on where it stopped. The table and the figure are built from those files alone.
#include "repux/train/trainer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace repux {

struct AblationCell {
  std::string name;  // e.g. "k21-bfr", "k21-bfr-a0.5", "resenc", "resenc-nnunet"
  NetworkConfig network;
  TrainOptions training;  // the spec's, or its recipe's (network, seed and folders set per run)
};

struct AblationErf {
  int64_t size = 64;     // noise cube side (multiple of 16)
  int64_t stage = 2;     // RepUX-Net's numbering (1/2^stage resolution); resenc's stage of the same resolution
  int64_t samples = 2;
};

struct AblationSpec {
  // The training of every cell: dataset (its validation list is the held-out set), plan (its network is
  // the large-kernel cells' base: widths, depths, hidden size), iterations, learning rate, ...
  TrainOptions training;
  std::string output_dir;
  std::vector<int64_t> kernel_sizes{7, 13, 21};
  std::vector<Reparam> reparams{Reparam::None, Reparam::Structural, Reparam::Bfr};
  std::vector<double> bfr_alphas;     // more BFR cells at the largest kernel (the base alpha is the grid's)
  bool resenc = true;                 // the ResEnc cell
  std::vector<int64_t> resenc_dims, resenc_depths;  // empty: ResEnc M's
  std::vector<uint64_t> seeds{0, 1, 2};
  std::string reference;              // the cell every other is compared with; empty: the largest kernel with BFR
  AblationErf erf;
  // Non-empty: every cell once per recipe, trained with these options instead of `training` (which
  // then holds what they share: data, preprocessing, evaluation); cells of a recipe other than repux
  // are named with "-<recipe>".
  std::vector<TrainOptions> recipes;
};

// Reads the ablation's JSON config: {"train": [repux train's arguments], "kernel_sizes", "reparams",
// "bfr_alphas", "resenc", "resenc_dims", "resenc_depths", "seeds", "reference", "erf": {size, stage,
// samples}, "recipes": {"repux": [more train arguments], "nnunet": [...]}}; `parse_train` turns the
// train arguments into options (the command line's own parser). With "recipes", each recipe's cells
// train with "train" + --recipe NAME + its own arguments.
AblationSpec read_ablation_config(const std::string& path, const std::function<TrainOptions(const std::vector<std::string>&)>& parse_train);

std::vector<AblationCell> ablation_cells(const AblationSpec& spec);
std::string reference_cell(const AblationSpec& spec);

// <output_dir>/cells/<cell>/seed-<seed>/result.json
std::string ablation_result_path(const AblationSpec& spec, const std::string& cell, uint64_t seed);

// Trains, evaluates and measures every (cell, seed) that has no result file yet; `log` hears one line
// per step. A run interrupted mid-cell resumes from that cell's training checkpoint.
void run_ablation(const AblationSpec& spec, const std::function<void(const std::string&)>& log);

// Per cell, from the result files: per-class Dice and HD95 (mean over seeds and cases; spread: the
// standard deviation of the per-seed means; HD95 over the cases where the class was found, with the
// count of those at Dice 0 beside it), mean foreground Dice, Wilcoxon's signed-rank test against
// the reference over (seed, case) pairs of mean foreground Dice, seconds per iteration, parameters,
// ERF radii. Throws naming a missing or malformed result file.
nlohmann::json ablation_table(const AblationSpec& spec);

// table.json, table.md, table.csv and ablation.png (mean foreground Dice per cell, with each seed) in
// output_dir, each written atomically.
void write_ablation_report(const AblationSpec& spec, const nlohmann::json& table);

}  // namespace repux
