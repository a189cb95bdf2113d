// The single `repux` program: a thin shell over the library. Every error becomes one line on stderr
// and a non-zero exit code.
#include "commands.h"

#include "repux/error.h"

#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <thread>

namespace {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"repux: RepUX-Net 3D medical image segmentation (train, predict, evaluate) in C++"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  // Ranks started together on one machine share its cores (LOCAL_WORLD_SIZE, set by launch and torchrun).
  const char* local_ranks = std::getenv("LOCAL_WORLD_SIZE");
  const int sharing = local_ranks ? std::max(1, std::atoi(local_ranks)) : 1;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / sharing));
  app.add_option("--threads", threads, "CPU threads for LibTorch (default: all cores)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.parse_complete_callback([&] { torch::set_num_threads(threads); });

  repux::cli::add_info_command(app);
  repux::cli::add_model_commands(app);
  repux::cli::add_pipeline_commands(app);
  repux::cli::add_train_commands(app);
  repux::cli::add_volume_commands(app);
  repux::cli::add_launch_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const repux::Error& e) {
    std::cerr << "repux: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "repux: error: " << first_line(e.what_without_backtrace()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "repux: error: " << first_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
