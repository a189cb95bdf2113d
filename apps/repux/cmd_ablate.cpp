// `repux ablate CONFIG -o DIR`: the kernel-size x re-parameterisation grid against ResEnc
// (repux/experiment/ablation.h), trained and evaluated cell by cell, resumable; then one table and one
// figure from the result files.
#include "commands.h"
#include "options.h"

#include "repux/experiment/ablation.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace repux::cli {
namespace {

struct AblateArgs {
  std::string config, output;
  bool table_only = false;
};

void run_ablate(const AblateArgs& a) {
  AblationSpec spec = read_ablation_config(a.config, train_options_from_arguments);
  spec.output_dir = a.output;
  const auto cells = ablation_cells(spec);
  fmt::print("{} cells x {} seeds; reference {}\n", cells.size(), spec.seeds.size(), reference_cell(spec));
  if (!a.table_only) {
    std::filesystem::create_directories(a.output);
    run_ablation(spec, [](const std::string& line) {
      fmt::print("{}\n", line);
      std::fflush(stdout);  // a run of hours is followed through a log file
    });
  }
  const nlohmann::json table = ablation_table(spec);
  write_ablation_report(spec, table);
  fmt::print("wrote {}/table.md, table.csv, table.json and ablation.png\n", a.output);
}

}  // namespace

void add_ablate_command(CLI::App& app) {
  auto aa = std::make_shared<AblateArgs>();
  auto* cmd = app.add_subcommand("ablate", "Kernel size x re-parameterisation ablation against nnU-Net ResEnc: train, evaluate, table, figure (resumable)");
  cmd->add_option("config", aa->config, "Ablation config (JSON; see examples/ablation/)")->required();
  cmd->add_option("-o,--output", aa->output, "Output folder (cells/<cell>/seed-<seed>/, table.md, ablation.png)")->required();
  cmd->add_flag("--table-only", aa->table_only, "Only rebuild the table and figure from the result files already there");
  cmd->callback([aa] { run_ablate(*aa); });
}

}  // namespace repux::cli
