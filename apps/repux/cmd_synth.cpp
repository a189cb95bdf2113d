// `repux synth`: a synthetic CT-like dataset (NIfTI images, labels, dataset.json) for the demo, the
// tests and the benchmarks.
#include "commands.h"
#include "options.h"

#include "repux/data/synth.h"
#include "repux/data/synth_context.h"
#include "repux/error.h"

#include <fmt/format.h>

#include <filesystem>
#include <iterator>

namespace repux::cli {
namespace {

struct SynthArgs {
  int64_t cases = 20;
  std::string output;
  uint64_t seed = 1;
  SynthTask task = SynthTask::Organs;
  bool full_size = false;
  bool nnunet_v2 = false;
  bool overwrite = false;
};

// A dataset written over another would leave the other's cases beside a dataset.json that lists only
// the new ones: a folder that holds anything is refused unless --overwrite.
void refuse_a_folder_in_use(const SynthArgs& a) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (a.overwrite || !fs::is_directory(a.output, ec) || fs::is_empty(a.output, ec)) return;
  const auto entries = std::distance(fs::directory_iterator(a.output), fs::directory_iterator());
  fail("{} is not empty ({} entries): --overwrite to write the synthetic dataset over it, or choose an empty folder", a.output, entries);
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto synth = std::make_shared<SynthArgs>();
  auto* s = app.add_subcommand("synth", "Write a synthetic CT-like dataset (NIfTI images, labels, dataset.json)");
  s->add_option("-n,--cases", synth->cases, "Number of cases")->capture_default_str()->check(CLI::PositiveNumber);
  s->add_option("-o,--output", synth->output, "Output folder")->required();
  s->add_option("--seed", synth->seed, "Random seed")->capture_default_str();
  add_enum_option(s, "--task", synth->task,
                  "organs: liver, spleen, kidney told apart by intensity and shape; small-organ: those and a small pancreas "
                  "(about 1.5% of the foreground) beside the spleen, as bright as it; context: two alike organs told apart only by "
                  "the side of a distant landmark they lie on (train without --flips)");
  s->add_flag("--full-size", synth->full_size, "Organs at clinical size: 512 x 512 x 150-300 voxels, 0.6-0.9 mm in-plane, 1.5-3 mm slices");
  s->add_flag("--nnunet-v2", synth->nnunet_v2,
              "nnU-Net v2's layout: held-out cases in imagesTs/ (labels in labelsTs/), a v2 dataset.json without case lists");
  s->add_flag("--overwrite", synth->overwrite, "Write into a folder that is not empty");
  s->callback([synth] {
    refuse_a_folder_in_use(*synth);
    if (synth->full_size && synth->task != SynthTask::Organs) fail("--full-size makes the organs task only");
    SynthOptions organs;
    organs.small_organ = synth->task == SynthTask::SmallOrgan;
    const auto path = synth->full_size                    ? write_full_size_dataset(synth->output, synth->cases, synth->seed)
                      : synth->task == SynthTask::Context ? write_context_dataset(synth->output, synth->cases, synth->seed)
                                                          : write_synthetic_dataset(synth->output, synth->cases, synth->seed, organs);
    fmt::print("wrote {} synthetic cases and {}\n", synth->cases, synth->nnunet_v2 ? make_nnunet_v2(synth->output) : path);
  });
}

}  // namespace repux::cli
