// The single `repux` program: a thin shell over the library. Every error becomes one line on stderr
// and a non-zero exit code.
#include "repux/cpu_threads.h"
#include "commands.h"
#include "did_you_mean.h"

#include "repux/allocator.h"
#include "repux/build_info.h"
#include "repux/dist/communicator.h"
#include "repux/error.h"

#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  // Named, so that usage lines say "repux", not the path the program was started from.
  CLI::App app{"repux: RepUX-Net 3D medical image segmentation (train, predict, evaluate) in C++", "repux"};
  app.require_subcommand(1);
  // Options a subcommand does not know are tried on the program: `repux train ... --threads 2` sets the
  // global --threads as `repux --threads 2 train ...` does. Inherited by the subcommands added below.
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  // Ranks started together on one machine share its cores (LOCAL_WORLD_SIZE, set by launch and torchrun).
  int sharing = 1;
  try {
    sharing = repux::int_from_env("LOCAL_WORLD_SIZE", 1, 1);
  } catch (const repux::Error& e) {
    fmt::print(stderr, "repux: {}\n", e.what());
    return 2;
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int threads = std::max(1, cores / sharing);
  // More threads than a few per core only adds contention (100,000 threads took minutes to start).
  // The help names no number of this machine's (the man page is written from it).
  app.add_option("--threads", threads, "CPU threads for LibTorch, before or after the subcommand (default: all cores)")
      ->check(CLI::Range(1, 4 * cores).description("1 to 4 x cores"));
  // REPUX_PARSE_ONLY: the command line is parsed and checked (subcommands, option names, values, enum
  // names), then nothing runs and the exit status is 0. "fragment" also accepts a command with its
  // required options left out (the docs' "repux serve ... --format both"). tests/docs/ checks every
  // command in the README and docs/ this way, so that none can go stale.
  const char* parse_only = std::getenv("REPUX_PARSE_ONLY");
  app.parse_complete_callback([&] {
    if (parse_only) throw CLI::Success();
    repux::set_cpu_threads(threads);
  });
  app.set_version_flag("--version", fmt::format("{}\nallocator: {}", repux::build_description(), repux::active_allocator()));

  // In the order of the work: data, training, prediction, clinical use, research, tools.
  repux::cli::add_synth_command(app);
  repux::cli::add_data_commands(app);
  repux::cli::add_train_commands(app);
  repux::cli::add_predict_command(app);
  repux::cli::add_evaluate_command(app);
  repux::cli::add_postprocess_command(app);
  repux::cli::add_stats_command(app);
  repux::cli::add_view_command(app);
  repux::cli::add_convert_command(app);
#ifdef REPUX_HAVE_DICOM
  repux::cli::add_serve_commands(app);  // the DICOM node needs DCMTK's dcmnet
#endif
  repux::cli::add_launch_command(app);
  repux::cli::add_erf_command(app);
  repux::cli::add_ablate_command(app);
  repux::cli::add_model_commands(app);
  repux::cli::add_info_command(app);
  repux::cli::add_volume_commands(app);
  repux::cli::group_subcommands(app);
  repux::cli::add_completion_command(app);  // after the others: it lists them

  if (parse_only && std::string(parse_only) == "fragment") repux::cli::relax_required(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    if (status != 0) std::cerr << repux::cli::did_you_mean(app);
    return status;
  } catch (const repux::Error& e) {
    std::cerr << "repux: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "repux: error: " << repux::first_line(e.what_without_backtrace()) << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "repux: error: out of memory (the input or the settings need more memory than this machine has)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "repux: error: " << repux::first_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
