#pragma once
// Option binders: one function per options struct adds its options to a subcommand, so that train,
// demo, import and predict share each option's name, meaning and help text. Values are parsed here,
// once, into typed settings (enums through their name tables; an unknown name is an error listing the
// known ones before any data is read).
#include "repux/enum_names.h"
#include "repux/eval/preview.h"
#include "repux/infer/predictor.h"
#include "repux/io/volume.h"
#include "repux/model/plan.h"
#include "repux/train/recipe.h"
#include "repux/train/trainer.h"

#include <CLI/CLI.hpp>

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace repux::cli {

// Progress of `what` (e.g. "preprocessed cases"): a live counter on a terminal; in a log, a plain line
// every 30 s.
std::function<void(size_t done, size_t total)> progress_printer(const std::string& what);

// An option whose value is one of E's names.
template <typename E>
CLI::Option* add_enum_option(CLI::App* cmd, const std::string& name, E& target, const std::string& help) {
  return cmd->add_option_function<std::string>(name, [&target](const std::string& text) { target = enum_from_name<E>(text); },
                                               help + " (" + enum_name_list<E>() + "; default " + enum_name(target) + ")");
}
template <typename E>
CLI::Option* add_enum_option(CLI::App* cmd, const std::string& name, std::optional<E>& target, const std::string& help) {
  return cmd->add_option_function<std::string>(name, [&target](const std::string& text) { target = enum_from_name<E>(text); },
                                               help + " (" + enum_name_list<E>() + ")");
}

// 1 value for all three axes, or 3 values; an error naming `option` otherwise.
template <typename T>
std::array<T, 3> one_or_three(const std::vector<T>& values, const char* option) {
  if (values.size() != 1 && values.size() != 3) fail("{} takes 1 or 3 values, got {}", option, values.size());
  return {values[0], values[values.size() == 3 ? 1 : 0], values.back()};
}

// The network's options as given (unset: not on the command line): --arch, --classes, --in-channels,
// --dims, --depths, --kernel-sizes, --hidden, --reparam, --bfr-alpha, --conv-impl.
struct NetworkArgs {
  std::optional<std::string> arch;
  std::optional<int64_t> classes, in_channels, hidden;
  std::vector<int64_t> dims, depths, kernel_sizes;
  std::optional<Reparam> reparam;
  std::optional<double> bfr_alpha;
  std::optional<LkImpl> conv_impl;
};
void bind_network(CLI::App* cmd, NetworkArgs& network);
// `base` with the options given; an option the chosen architecture does not use is refused, naming it.
NetworkConfig apply_network_args(NetworkConfig base, const NetworkArgs& args);

// What the command line says of a Plan, as given; `plan` holds the command's defaults.
struct PlanArgs {
  Plan plan;
  NetworkArgs network;
  std::string plan_file;  // --plan: a plan made by `repux plan`
  std::string preset;     // empty: from the dataset's channel names (train), unless --plan
  std::vector<double> spacing;
  std::optional<Intensity> intensity;
  std::vector<double> ct_window;
  bool no_crop = false;
  std::vector<int64_t> patch;
};
// The network's options, then the preprocessing (--preset, --spacing, --intensity, --ct-window,
// --no-crop), --patch, --class-names and the inference settings saved with the model and used by
// validation (--overlap, --blending, --tta).
void bind_plan(CLI::App* cmd, PlanArgs& args);

// The Plan a command line describes, resolved once (the plan file read once) and checked, with what
// the user gave explicitly. An error names the option (or the plan file) it comes from.
struct ResolvedPlan {
  Plan plan;
  bool classes_given = false;        // --classes or a plan file
  bool class_names_given = false;    // --class-names (else the dataset may name the classes)
  bool preprocessing_given = false;  // --plan, --preset, --spacing, --intensity, --ct-window, --no-crop
  int64_t planned_crops_per_case = 0;  // the plan file's (`repux plan` chooses the batch with the patch); 0: none
};
ResolvedPlan resolve_plan(const PlanArgs& args);

// The training settings whose defaults are the recipe's (repux/train/recipe.h): unset unless given.
struct RecipeArgs {
  std::optional<Recipe> recipe;
  std::optional<ForegroundSampling> foreground_sampling;
  std::optional<bool> deep_supervision;
  std::optional<double> learning_rate, weight_decay, foreground_ratio;
  std::optional<Schedule> schedule;
  std::optional<int64_t> warmup, validate_every;
  std::optional<std::vector<int64_t>> flip_axes;
};

// Optimisation, augmentation, device and precision of a training run.
void bind_training(CLI::App* cmd, TrainOptions& options, RecipeArgs& recipe);

// The recipe into options.plan.training (given values over the plan's), then every setting the
// user left unset from the recipe's defaults.
void apply_recipe(TrainOptions& options, const RecipeArgs& args);

// `repux train`'s arguments (dataset, plan, training; not the output folder) parsed into checked options,
// for commands that train many runs alike (`repux ablate`). An error names the bad argument.
TrainOptions train_options_from_arguments(const std::vector<std::string>& arguments);

// predict's overrides of the model's inference settings: --window, --overlap, --blending (and
// --gaussian), --tta, --window-growth and --fast.
struct InferenceArgs {
  std::vector<int64_t> window;
  InferenceOverrides overrides;
  bool fast = false;  // fast_inference() under the explicit overrides
};
void bind_inference_overrides(CLI::App* cmd, InferenceArgs& args);
InferenceOverrides resolve_overrides(const InferenceArgs& args);

// -j/--jobs: how many cases are processed at once (plan, preprocess, train's preprocessing); 0: one per
// core. One name wherever cases run side by side; --threads is the compute threads, everywhere.
void add_jobs_option(CLI::App* cmd, int& jobs, const std::string& help);

// `text` as a device: cpu, cuda or cuda:N, in repux's words when it cannot be (not a device name; a build
// without CUDA; no CUDA device visible; no such device). `option` names the flag in the error.
torch::Device device_from_name(const std::string& text, const std::string& option);

// The previews' look: `window_flag` (a CT preset or W/L, parsed by parse_window) and --overlay
// fill|outline.
void bind_preview(CLI::App* cmd, const std::string& window_flag, PreviewOptions& options);

// `v` with `decimals` decimals, or `absent` when it is not finite (a metric or statistic with no value).
std::string fixed_or(double v, int decimals, const std::string& absent);

// How DICOM input is read: --series UID and --gantry-tilt refuse|resample (alone: bind_gantry_tilt).
void bind_dicom_reading(CLI::App* cmd, VolumeReadOptions& options);
void bind_gantry_tilt(CLI::App* cmd, GantryTilt& tilt);

// The volumes a command maps: a file to a file, or a folder to a folder (its volume files in name
// order, so every share of a job array sees the same list; share k of n takes every n-th from the
// k-th). The output folder is created; a file given with shares is an error; an output that is the input
// (or an output folder that is the input folder) is refused. A folder without volume
// files is a DICOM series: one job, read from the folder, written to the output file.
// Refuses, before any work, an output that would replace one of the command's inputs: the same path,
// the same file through a link or a hard link, or an output folder that is an input folder.
void refuse_writing_over_inputs(const std::vector<std::string>& inputs, const std::string& output);

// With `channel_cases` (predict), a folder in nnU-Net's naming is read as cases of channel files
// (CASE_0000.ext, CASE_0001.ext, ...; repux/data/dataset.h: cases_in_folder), each written as CASE.ext.
struct VolumeJob {
  std::string input, output;
  std::vector<std::string> more_channels;  // the case's further channel files, after `input`
};
// With `study_suffix` (predict), a folder holding only folders, written to an output folder (not a
// volume file name), is a folder of DICOM studies: each subfolder is one job, written as
// <output>/<subfolder><study_suffix>.
std::vector<VolumeJob> volume_jobs(const std::string& input, const std::string& output, std::pair<int64_t, int64_t> share = {1, 1},
                                   bool channel_cases = false, const std::string& study_suffix = "");

// --shard: "K/N" -> {K, N} with 1 <= K <= N (every N-th case from the K-th); "auto": a SLURM job array
// task's share (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, numbered from SLURM_ARRAY_TASK_MIN).
std::pair<int64_t, int64_t> parse_shard(const std::string& text);
// The help text of --shard, the same for every command that takes it.
std::string shard_help(const std::string& what);

}  // namespace repux::cli
