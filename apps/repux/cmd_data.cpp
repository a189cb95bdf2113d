// Dataset commands: `repux plan` (fingerprint and plan) and `repux preprocess` (a dataset into a case
// store, once, for training at scale).
#include "commands.h"
#include "options.h"

#include "repux/data/case_store.h"
#include "repux/data/dataset.h"
#include "repux/data/fingerprint.h"
#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/model/planner.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

namespace repux::cli {
namespace {

int threads_or_cores(int threads) { return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

struct PlanCommandArgs {
  std::string dataset, root, output, fingerprint;
  PlannerSettings settings;
  NetworkArgs network;
  int threads = 0;
};

void run_plan(const PlanCommandArgs& a) {
  PlannerSettings settings = a.settings;
  settings.network = apply_network_args(settings.network, a.network);  // refused before any case is read
  refuse_writing_over_inputs({a.dataset, a.root}, a.output);
  if (!a.fingerprint.empty()) refuse_writing_over_inputs({a.dataset, a.root, a.output}, a.fingerprint);
  const Dataset dataset = load_dataset(a.dataset, a.root);
  settings.channel_names = dataset.channel_names;
  settings.ignore_label = dataset.ignore_label;
  settings.regions = dataset.regions;
  const DatasetFingerprint f = fingerprint_dataset(dataset, threads_or_cores(a.threads), progress_printer("fingerprinted cases"));
  if (!a.fingerprint.empty()) write_json_file(to_json(f), a.fingerprint);
  const PlannedTraining planned = plan_from_fingerprint(f, settings, dataset.class_names);
  write_json_file(to_json(planned), a.output);
  for (const auto& line : planned.reasons) fmt::print("  {}\n", line);
  fmt::print("{}: plan for {} cases, {} classes; train with `repux train -d {} --plan {} -o OUTPUT`\n", a.output, f.cases.size(),
             planned.plan.network.out_channels, a.dataset, a.output);
}

struct PreprocessArgs {
  std::string dataset, root, output;
  PlanArgs plan;
  int threads = 0;
  bool overwrite = false;
  std::string shard;
};

// The number of classes: --classes, else the plan file's, else the dataset's labels.
int64_t store_classes(const PreprocessArgs& a, const ResolvedPlan& resolved, const Dataset& dataset) {
  const int64_t classes = dataset_classes(dataset, resolved.classes_given ? std::optional<int64_t>(label_classes(resolved.plan)) : std::nullopt,
                                          a.dataset);
  if (classes == 0) fail("{}: the dataset names no labels; give --classes (background included) or --plan", a.dataset);
  return classes;
}

void run_preprocess(const PreprocessArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  refuse_writing_over_inputs({a.dataset, a.root, a.plan.plan_file}, a.output);
  const ResolvedPlan resolved = resolve_plan(a.plan);
  const Plan& plan = resolved.plan;
  const Dataset dataset = load_dataset(a.dataset, a.root);
  PreprocessToStoreOptions o;
  o.threads = threads_or_cores(a.threads);
  o.overwrite = a.overwrite;
  o.on_progress = progress_printer("preprocessed cases");
  if (!a.shard.empty()) o.shard = parse_shard(a.shard);
  const int64_t classes = store_classes(a, resolved, dataset);
  const PreprocessSummary s = preprocess_to_store(dataset, plan.preprocessing, classes, a.output, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string share = o.shard.second > 1 ? fmt::format("shard {}/{}: ", o.shard.first, o.shard.second) : "";
  fmt::print("{}: {}{} cases ({} preprocessed now, {} kept from an earlier run), {} classes, recipe {}, {:.1f} s\n", a.output, share, s.cases,
             s.preprocessed, s.kept, classes, plan.preprocessing.name, seconds);
  if (s.indexed && o.shard.second > 1) fmt::print("{}: all {} cases are in; index written, the store is ready to train from\n", a.output, s.dataset_cases);
  if (!s.indexed) {
    fmt::print("{}: {} of {} cases still to come from the other shards; the shard that finishes last writes the index (or run "
               "`repux preprocess` without --shard to finish the store)\n", a.output, s.unfinished, s.dataset_cases);
  }
}

}  // namespace

void add_data_commands(CLI::App& app) {
  auto pl = std::make_shared<PlanCommandArgs>();
  auto* c = app.add_subcommand("plan", "Fingerprint a dataset (shapes, spacings, intensities, classes) and derive a plan: spacing, patch, batch, "
                                       "intensity (rules in include/repux/model/planner.h)");
  c->add_option("dataset,-i,--input", pl->dataset, "Dataset JSON, or a folder with dataset.json or imagesTr/labelsTr")->required();
  c->add_option("-o,--output", pl->output, "Plan file to write (JSON)")->required();
  c->add_option("--root", pl->root, "Base folder for relative paths (default: the JSON's folder)");
  c->add_option("--fingerprint", pl->fingerprint, "Also write the fingerprint (JSON) here");
  add_jobs_option(c, pl->threads, "Cases read at once (default: one per core)");
  add_enum_option(c, "--modality", pl->settings.modality, "Intensity rule");
  c->add_option("--step-voxels", pl->settings.step_voxels, "Voxels of one training step (crops x patch): the memory budget")->capture_default_str();
  c->add_option("--min-context", pl->settings.min_context, "Fraction of the median image the patch must span, per axis (0: off)")
      ->capture_default_str();
  c->add_option("--max-coarsening", pl->settings.max_coarsening, "Most the spacing may be coarsened for context")->capture_default_str();
  bind_network(c, pl->network);
  c->callback([pl] { run_plan(*pl); });

  auto pa = std::make_shared<PreprocessArgs>();
  auto* p = app.add_subcommand("preprocess",
                               "Preprocess a dataset once into a case store (memory-mapped arrays + index) that `repux train -d STORE` reads by crop; "
                               "resumable");
  p->add_option("dataset,-i,--input", pa->dataset, "Dataset JSON, or a folder with dataset.json or imagesTr/labelsTr")->required();
  p->add_option("-o,--output", pa->output, "Store folder")->required();
  p->add_option("--root", pa->root, "Base folder for relative paths (default: the JSON's folder)");
  add_jobs_option(p, pa->threads, "Cases preprocessed at once (default: one per core)");
  p->add_flag("--overwrite", pa->overwrite, "Redo a store made with another recipe or number of classes (without it, refused)");
  p->add_option("--shard", pa->shard, shard_help("the dataset's cases, into one store on storage all of them share"));
  bind_plan(p, pa->plan);
  p->callback([pa] { run_preprocess(*pa); });
}

}  // namespace repux::cli
