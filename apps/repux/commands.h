#pragma once
// Each subcommand of the `repux` program lives in its own file and registers itself here.
#include <CLI/CLI.hpp>

namespace repux::cli {

void add_info_command(CLI::App& app);
void add_model_commands(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_postprocess_command(CLI::App& app);
void add_train_commands(CLI::App& app);
void add_volume_commands(CLI::App& app);
void add_launch_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_serve_commands(CLI::App& app);
void add_erf_command(CLI::App& app);
void add_ablate_command(CLI::App& app);
void add_data_commands(CLI::App& app);
void add_stats_command(CLI::App& app);
void add_view_command(CLI::App& app);

void add_completion_command(CLI::App& app);

// Puts each subcommand under its heading in the help: workflow, clinical, research, tools.
void group_subcommands(CLI::App& app);

// Makes every option and positional of every subcommand optional (REPUX_PARSE_ONLY=fragment: a command
// shown with its required options left out still parses).
void relax_required(CLI::App& app);

}  // namespace repux::cli
