#include "options.h"

#include "repux/build_info.h"
#include "repux/data/dataset.h"
#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/io/volume_file.h"
#include "repux/model/planner.h"
#include "repux/nn/network_family.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <memory>

namespace repux::cli {

std::function<void(size_t, size_t)> progress_printer(const std::string& what) {
  if (isatty(STDERR_FILENO)) {
    return [what](size_t done, size_t total) { fmt::print(stderr, "\r{} {}/{}{}", what, done, total, done == total ? "\n" : ""); };
  }
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [what, last](size_t done, size_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done == total || now - *last < std::chrono::seconds(30)) return;
    *last = now;
    fmt::print(stderr, "{} {}/{} ({:.0f}%)\n", what, done, total, 100.0 * done / total);
  };
}

void bind_network(CLI::App* cmd, NetworkArgs& n) {
  cmd->add_option_function<std::string>("--arch", [&n](const std::string& name) { n.arch = network_family(name).name; },
                                        fmt::format("Architecture ({}; default repuxnet)", fmt::join(network_family_names(), ", ")));
  cmd->add_option("--classes", n.classes, "Classes including background (default 14, or the dataset's)");
  cmd->add_option("--in-channels", n.in_channels, "Input channels (default 1)");
  cmd->add_option("--dims", n.dims, "Stage widths (default 48 96 192 384; resenc: 32 64 128 256 320)");
  cmd->add_option("--depths", n.depths, "Blocks per stage (default 2 2 2 2; resenc: 1 3 4 6 6)");
  cmd->add_option("--kernel-sizes", n.kernel_sizes, "Depthwise kernel per stage, 1 or 4 values (default 21 for repuxnet, 7 for uxnet)");
  cmd->add_option("--hidden", n.hidden, "UNETR decoder's hidden size (repuxnet, uxnet; default 768)");
  add_enum_option(cmd, "--reparam", n.reparam, "Large-kernel re-parameterization (default: bfr for repuxnet, none for uxnet and resenc)");
  cmd->add_option("--bfr-alpha", n.bfr_alpha, "BFR alpha (repuxnet; default 1)");
  add_enum_option(cmd, "--conv-impl", n.conv_impl, "Large-kernel convolution (repuxnet, uxnet; default auto)");
}

namespace {

// Each architecture-specific option and the NetworkConfig field it sets (NetworkFamily::fields).
struct FamilyOption {
  const char* option;
  const char* field;
  bool given;
};

}  // namespace

NetworkConfig apply_network_args(NetworkConfig n, const NetworkArgs& a) {
  if (a.arch) n.arch = *a.arch;
  if (a.classes) n.out_channels = *a.classes;
  if (a.in_channels) n.in_channels = *a.in_channels;
  const FamilyOption options[] = {{"--dims", "dims", !a.dims.empty()},
                                  {"--depths", "depths", !a.depths.empty()},
                                  {"--kernel-sizes", "kernel_sizes", !a.kernel_sizes.empty()},
                                  {"--hidden", "hidden_size", a.hidden.has_value()},
                                  {"--reparam", "reparam", a.reparam.has_value()},
                                  {"--bfr-alpha", "bfr_alpha", a.bfr_alpha.has_value()},
                                  {"--conv-impl", "conv_impl", a.conv_impl.has_value()}};
  const NetworkFamily& family = network_family(n.arch);
  for (const auto& o : options) {
    if (o.given && std::find(family.fields.begin(), family.fields.end(), o.field) == family.fields.end()) {
      fail("{} does not apply to --arch {}", o.option, family.name);
    }
  }
  if (!a.dims.empty()) n.dims = a.dims;
  if (!a.depths.empty()) n.depths = a.depths;
  if (!a.kernel_sizes.empty()) n.kernel_sizes = a.kernel_sizes;
  if (a.hidden) n.hidden_size = *a.hidden;
  if (a.reparam) n.reparam = a.reparam;
  if (a.bfr_alpha) n.bfr_alpha = *a.bfr_alpha;
  if (a.conv_impl) n.conv_impl = *a.conv_impl;
  return n;
}

void bind_plan(CLI::App* cmd, PlanArgs& a) {
  bind_network(cmd, a.network);
  cmd->add_option("--plan", a.plan_file, "A plan made by `repux plan`: preprocessing, patch, batch and classes (options given here override it)");
  cmd->add_option("--preset", a.preset, "Preprocessing preset: flare, amos, mri or none (default: from the dataset's channel names, flare for CT, mri otherwise)");
  cmd->add_option("--spacing", a.spacing, "Target spacing in mm, 1 or 3 values (overrides the preset)");
  add_enum_option(cmd, "--intensity", a.intensity, "Intensity normalisation (overrides the preset)");
  cmd->add_option("--ct-window", a.ct_window, "CT window MIN MAX in HU for --intensity ct (default -125 275)")->expected(2);
  cmd->add_flag("--no-crop", a.no_crop, "Do not crop to the foreground");
  cmd->add_option("--patch", a.patch, "Patch size, 1 or 3 values, multiples of 16 (default 96)");
  cmd->add_option("--class-names", a.plan.class_names, "Class names, background first (default: the dataset's)");
  auto& inference = a.plan.inference;
  cmd->add_option("--overlap", inference.overlap, "Sliding-window overlap of validation, saved as the model's default")->capture_default_str();
  add_enum_option(cmd, "--blending", inference.blending, "Sliding-window blending of validation, saved as the model's default");
  cmd->add_flag_callback("--tta", [&inference] { inference.mirror_axes = {0, 1, 2}; }, "Mirroring test-time augmentation (validation and default)");
  cmd->add_option("--window-growth", inference.window_growth,
                   "Sliding windows may grow to this many times the patch's voxels (validation and default; 1: fixed)")
      ->capture_default_str();
}

namespace {

// The option behind each plan field (PlanFieldError::field), so that an error names what the user typed.
constexpr std::pair<const char*, const char*> kOptionOfField[] = {
    {"patch", "--patch"},       {"inference.window", "--patch"}, {"inference.overlap", "--overlap"},
    {"inference.window_growth", "--window-growth"},
    {"class_names", "--class-names"}, {"preprocessing", "--preset/--spacing/--ct-window"}};

// A plan file as `repux plan` writes it, read strictly; every error names the file.
PlannedTraining read_plan_file(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object() || !j.contains("network")) fail("{}: not a plan (no \"network\"); make one with `repux plan`", path);
  try {
    return planned_training_from_json(j);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

// The preprocessing options over the plan's recipe.
void apply_preprocessing_args(Plan& plan, const PlanArgs& a) {
  if (!a.spacing.empty()) plan.preprocessing.spacing = one_or_three(a.spacing, "--spacing");
  if (a.intensity) plan.preprocessing.intensity = *a.intensity;
  if (!a.ct_window.empty()) {
    if (plan.preprocessing.intensity != Intensity::Ct) {
      fail("--ct-window applies to --intensity ct, but the intensity normalisation is {}", enum_name(plan.preprocessing.intensity));
    }
    plan.preprocessing.window_min = a.ct_window[0];
    plan.preprocessing.window_max = a.ct_window[1];
  }
  if (a.no_crop) plan.preprocessing.crop_foreground = false;
}

// The plan the arguments describe, unchecked.
ResolvedPlan plan_from_args(const PlanArgs& a) {
  ResolvedPlan r;
  Plan& plan = r.plan;
  plan = a.plan;
  if (!a.plan_file.empty()) {
    if (!a.preset.empty()) fail("--plan and --preset both choose the preprocessing; give one");
    const PlannedTraining file = read_plan_file(a.plan_file);
    plan.preprocessing = file.plan.preprocessing;
    plan.patch = file.plan.patch;
    if (plan.class_names.empty()) plan.class_names = file.plan.class_names;
    plan.regions = file.plan.regions;
    plan.network.out_channels = file.plan.network.out_channels;
    plan.network.in_channels = file.plan.network.in_channels;
    r.planned_crops_per_case = file.crops_per_case;
  } else {
    plan.preprocessing = preprocess_preset(a.preset.empty() ? "flare" : a.preset);
  }
  plan.network = apply_network_args(plan.network, a.network);
  apply_preprocessing_args(plan, a);
  if (!a.patch.empty()) plan.patch = one_or_three(a.patch, "--patch");
  r.classes_given = a.network.classes || !a.plan_file.empty();
  r.class_names_given = !a.plan.class_names.empty();
  r.preprocessing_given = !a.plan_file.empty() || !a.preset.empty() || !a.spacing.empty() || a.intensity || !a.ct_window.empty() || a.no_crop;
  return r;
}

}  // namespace

ResolvedPlan resolve_plan(const PlanArgs& a) {
  ResolvedPlan r = plan_from_args(a);
  try {
    r.plan = resolved(r.plan);
  } catch (const PlanFieldError& e) {
    for (const auto& [field, option] : kOptionOfField) {
      if (e.field == field) fail("{}: {}", option, e.what());
    }
    throw;
  }
  return r;
}

void bind_training(CLI::App* cmd, TrainOptions& o, RecipeArgs& r) {
  add_enum_option(cmd, "--recipe", r.recipe,
                  "Training recipe: repux (AdamW, repux's augmentations) or nnunet (SGD Nesterov 0.99, lr 1e-2 poly, weight decay 3e-5, "
                  "a third of the crops on foreground, nnU-Net's augmentations and mirroring); default repux. Options below override it");
  add_enum_option(cmd, "--foreground-sampling", r.foreground_sampling,
                  "How a foreground crop's centre is drawn: class_uniform (nnU-Net's: a class present in the case, then a voxel of it) or "
                  "voxels (in proportion to each class's volume); default class_uniform");
  cmd->add_flag_callback("--deep-supervision", [&r] { r.deep_supervision = true; },
                         "The loss on every decoder output, weights halving per level, as nnU-Net (nnunet's own heads; resenc, repuxnet "
                         "and uxnet get 1x1 heads on their coarser stages); default on for nnunet, and for resenc under the nnunet recipe");
  cmd->add_flag_callback("--no-deep-supervision", [&r] { r.deep_supervision = false; }, "The loss on the final output only");
  cmd->add_option("--fg-ratio", r.foreground_ratio, "Probability of a foreground-centred crop (default 0.5; nnunet recipe 1/3)");
  cmd->add_flag_callback("--flips", [&r] { r.flip_axes = std::vector<int64_t>{0, 1, 2}; }, "Random flips along the three axes (the nnunet recipe's default)");
  cmd->add_option_function<std::vector<int64_t>>("--flip-axes", [&r](const std::vector<int64_t>& v) { r.flip_axes = v; },
                                                 "Random flips along these axes only (0: left-right in RAS)")
      ->check(CLI::Range(0, 2));
  cmd->add_flag_callback("--no-flips", [&r] { r.flip_axes = std::vector<int64_t>{}; }, "No random flips (the repux recipe's default)");
  cmd->add_option("--iterations", o.iterations, "Training iterations")->capture_default_str();
  cmd->add_option("--val-every", r.validate_every, "Validate every N iterations (default 500; nnunet recipe 250, nnU-Net's epoch)");
  cmd->add_option("--lr", r.learning_rate, "Learning rate (default 1e-4; nnunet recipe 1e-2)");
  cmd->add_option("--weight-decay", r.weight_decay, "Weight decay (default 0.01; nnunet recipe 3e-5)");
  add_enum_option(cmd, "--schedule", r.schedule, "Learning-rate schedule (default none; nnunet recipe poly)");
  cmd->add_option("--warmup", r.warmup, "Linear warm-up iterations (default 0)");
  cmd->add_option("--clip", o.grad_clip, "Gradient norm clipping (0: off)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed")->capture_default_str();
  cmd->add_option("--workers", o.workers, "Background data workers")->capture_default_str();
  add_jobs_option(cmd, o.preprocess_threads, "Cases preprocessed at once before training (default: one per core)");
  // The former name, kept for one release.
  cmd->add_option("--preprocess-threads", o.preprocess_threads)->group("");
  cmd->add_option_function<std::string>("--device", [&o](const std::string& d) { o.device = device_from_name(d, "--device"); },
                                        "cpu, cuda or cuda:N (default cpu)");
  cmd->add_option_function<std::string>("--augment-device", [&o](const std::string& d) { o.augment_device = device_from_name(d, "--augment-device"); },
                                        "Where the data workers augment: cpu (default) or cuda (the training GPU; crops are read on the CPU)");
  add_enum_option(cmd, "--precision", o.precision, "Autocast precision; the FFT convolutions stay float32");
}

void bind_inference_overrides(CLI::App* cmd, InferenceArgs& a) {
  auto& o = a.overrides;
  cmd->add_option("--window", a.window, "Window size, 1 or 3 values (default: the model's, i.e. its training patch)");
  cmd->add_option_function<double>("--overlap", [&o](double v) { o.overlap = v; }, "Window overlap in [0, 1) (default: the model's)");
  add_enum_option(cmd, "--blending", o.blending, "Window blending (default: the model's)");
  cmd->add_flag_callback("--gaussian", [&o] { o.blending = Blending::Gaussian; }, "Same as --blending gaussian");
  cmd->add_flag_callback("--tta", [&o] { o.mirror_axes = std::vector<int64_t>{0, 1, 2}; }, "Mirroring test-time augmentation over the three axes");
  cmd->add_option_function<double>("--window-growth", [&o](double v) { o.window_growth = v; },
                                   "Windows may grow (up to the volume) to this many times the window's voxels: fewer windows, "
                                   "but large-kernel models lose accuracy past their patch (default: the model's, 1)");
  add_enum_option(cmd, "--accumulate", o.accumulation,
                  "What window logits are summed in: float32, or nnunet_float16 as nnU-Net's predictor (default: the model's; "
                  "nnunet_float16 for imported nnU-Net models)");
  cmd->add_flag("--fast", a.fast, "The fewest windows that cover the volume (--overlap 0) and no mirroring; options given explicitly win");
}

void apply_recipe(TrainOptions& o, const RecipeArgs& r) {
  TrainingRecipe& t = o.plan.training;
  if (r.recipe) t.recipe = *r.recipe;
  if (r.foreground_sampling) t.foreground_sampling = *r.foreground_sampling;
  // nnU-Net's own networks are trained as nnU-Net trains them, with deep supervision (fine-tuning an
  // imported model; ResEnc under nnU-Net's recipe), unless told otherwise. (The trainer gives the
  // networks built without heads on their coarser stages those heads.)
  const std::string& arch = o.plan.network.arch;
  t.deep_supervision = r.deep_supervision.value_or(t.deep_supervision || arch == "nnunet" || (arch == "resenc" && t.recipe == Recipe::NnUNet));
  const RecipeDefaults d = recipe_defaults(t.recipe);
  o.learning_rate = r.learning_rate.value_or(d.learning_rate);
  o.weight_decay = r.weight_decay.value_or(d.weight_decay);
  o.schedule = r.schedule.value_or(d.schedule);
  o.warmup = r.warmup.value_or(d.warmup);
  o.validate_every = r.validate_every.value_or(d.validate_every);
  o.sampler.foreground_ratio = r.foreground_ratio.value_or(d.foreground_ratio);
  o.sampler.flip_axes = r.flip_axes.value_or(d.flip_axes);
}

InferenceOverrides resolve_overrides(const InferenceArgs& a) {
  InferenceOverrides o = a.overrides;
  if (!a.window.empty()) o.window = one_or_three(a.window, "--window");
  return a.fast ? merge(fast_inference(), o) : o;
}

void bind_gantry_tilt(CLI::App* cmd, GantryTilt& tilt) {
  add_enum_option(cmd, "--gantry-tilt", tilt, "DICOM input: a gantry-tilted series is refused, or resampled onto an orthogonal grid");
}

void bind_dicom_reading(CLI::App* cmd, VolumeReadOptions& options) {
  cmd->add_option("--series", options.dicom_series, "DICOM input: the SeriesInstanceUID to read (default: the folder's only CT or MR series)");
  bind_gantry_tilt(cmd, options.gantry_tilt);
}

namespace {

bool same_place(const std::filesystem::path& a, const std::filesystem::path& b) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec)) return true;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a), ec), cb = fs::weakly_canonical(fs::absolute(b), ec);
  return !ec && ca == cb;
}

}  // namespace

void refuse_writing_over_inputs(const std::vector<std::string>& inputs, const std::string& output) {
  for (const auto& input : inputs) {
    if (!input.empty() && same_place(input, output)) {
      fail("-o {}: is the input {}; writing there would destroy the input, choose another output", output, input);
    }
  }
}

void add_jobs_option(CLI::App* cmd, int& jobs, const std::string& help) {
  cmd->add_option("-j,--jobs", jobs, help)->check(CLI::Range(0, 256));
}

torch::Device device_from_name(const std::string& text, const std::string& option) {
  int index = -1;
  char extra = 0;
  const bool cuda = text == "cuda" || (std::sscanf(text.c_str(), "cuda:%d%c", &index, &extra) == 1 && index >= 0);
  if (text != "cpu" && !cuda) fail("{} '{}': expected cpu, cuda or cuda:N", option, text);
  if (cuda && !build_info().cuda) fail("{} {}: this build of repux has no CUDA (see `repux --version`); use --device cpu", option, text);
  if (cuda && !torch::cuda::is_available()) fail("{} {}: no CUDA device is visible to this process", option, text);
  if (cuda && index >= static_cast<int>(torch::cuda::device_count())) {
    fail("{} {}: this machine has {} CUDA device(s), numbered from 0", option, text, torch::cuda::device_count());
  }
  return torch::Device(text);
}

void bind_preview(CLI::App* cmd, const std::string& window_flag, PreviewOptions& options) {
  cmd->add_option_function<std::string>(
      window_flag, [&options](const std::string& text) { options.window = parse_window(text); },
      "Greyscale window of the preview: abdomen, lung, bone, brain, or WIDTH/LEVEL (e.g. 400/40); default: from the image (CT "
      "abdomen; MR the foreground's 1st-99th percentile)");
  add_enum_option(cmd, "--overlay", options.style, "How labels are drawn over the preview's image");
}

std::string fixed_or(double v, int decimals, const std::string& absent) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : absent;
}

namespace {

// The subfolders of `folder` when it holds nothing else (hidden entries aside): a folder of DICOM
// studies, one per subfolder, in name order. Empty when it holds files of its own (one series).
std::vector<std::string> study_folders(const std::string& folder) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name[0] == '.') continue;
    if (!entry.is_directory()) return {};
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<VolumeJob> volume_jobs(const std::string& input, const std::string& output, std::pair<int64_t, int64_t> share, bool channel_cases,
                                   const std::string& study_suffix) {
  namespace fs = std::filesystem;
  refuse_writing_over_inputs({input}, output);
  const bool folder = fs::is_directory(input);
  std::vector<VolumeJob> all;
  if (folder && channel_cases && !list_volume_files(input).empty()) {
    for (const CaseFiles& c : cases_in_folder(input)) all.push_back({c.image, (fs::path(output) / (case_identifier(c) + volume_suffix(c.image))).string(), c.more_channels});
  } else if (folder) {
    for (const auto& name : list_volume_files(input)) all.push_back({(fs::path(input) / name).string(), (fs::path(output) / name).string(), {}});
  }
  if (folder && all.empty() && !study_suffix.empty() && !is_volume_path(output)) {
    for (const auto& name : study_folders(input)) all.push_back({(fs::path(input) / name).string(), (fs::path(output) / (name + study_suffix)).string(), {}});
  }
  if (all.empty()) {
    if (share.second != 1) fail("--shard needs a folder of volume files as input, and {} is {}", input, folder ? "a DICOM folder" : "a file");
    ensure_writable_volume(output);
    return {{input, output, {}}};
  }
  std::vector<VolumeJob> jobs;
  for (size_t i = static_cast<size_t>(share.first - 1); i < all.size(); i += static_cast<size_t>(share.second)) jobs.push_back(all[i]);
  fs::create_directories(output);
  return jobs;
}

namespace {

// A SLURM job array's task as a share: task SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, numbered from
// SLURM_ARRAY_TASK_MIN (`sbatch --array=0-7`: tasks 0 to 7 are shares 1/8 to 8/8).
std::pair<int64_t, int64_t> slurm_array_share() {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) fail("--shard auto: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not set (not a SLURM job array task)");
  const int64_t task = int_from_env("SLURM_ARRAY_TASK_ID", 0, 0), n = int_from_env("SLURM_ARRAY_TASK_COUNT", 1, 1);
  const int64_t first = int_from_env("SLURM_ARRAY_TASK_MIN", 0, 0);
  if (task < first || task - first >= n) {
    fail("--shard auto: SLURM_ARRAY_TASK_ID={} is not one of {} tasks from SLURM_ARRAY_TASK_MIN={} (an array with gaps or a step?)", task, n, first);
  }
  return {task - first + 1, n};
}

}  // namespace

std::pair<int64_t, int64_t> parse_shard(const std::string& text) {
  if (text == "auto") return slurm_array_share();
  int64_t k = 0, n = 0;
  char slash = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%ld%c%ld%c", &k, &slash, &n, &extra) != 3 || slash != '/' || n < 1 || k < 1 || k > n) {
    fail("--shard '{}' is not K/N with 1 <= K <= N (e.g. 2/8: the second of eight shares)", text);
  }
  return {k, n};
}

std::string shard_help(const std::string& what) {
  return fmt::format("K/N: only the K-th of N disjoint shares of {} (every N-th from the K-th; for several machines or a job array); "
                     "auto: a SLURM array task's share (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN)",
                     what);
}

}  // namespace repux::cli
