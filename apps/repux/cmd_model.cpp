// Model commands: `repux import` (official checkpoint -> model file), `repux export` (model file ->
// official-compatible .pth), `repux forward` (raw network on a .npy tensor, for parity checks).
#include "commands.h"
#include "options.h"

#include "repux/error.h"
#include "repux/io/npy.h"
#include "repux/io/torch_checkpoint.h"
#include "repux/model/model_file.h"
#include "repux/model/nnunet_import.h"
#include "repux/nn/deep_heads.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

namespace repux::cli {
namespace {

struct ImportArgs {
  std::string checkpoint, output;
  PlanArgs plan;  // an official checkpoint's network (over what its tensors show), preprocessing and inference
  std::vector<std::string> folds;           // nnU-Net folders: none given means every fold there
  std::string nnunet_checkpoint = "final";  // final, best, or a file name
};

// One output per fold: the -o name itself for one fold, else <stem>_fold<K><extension> beside it.
std::string fold_output(const std::string& output, const std::string& fold, size_t folds) {
  if (folds == 1) return output;
  const std::filesystem::path p(output);
  std::string stem = p.filename().string(), ext;
  if (const auto dot = stem.find('.'); dot != std::string::npos && dot > 0) {
    ext = stem.substr(dot);
    stem = stem.substr(0, dot);
  }
  return (p.parent_path() / (stem + "_fold" + fold + ext)).string();
}

// The options an official checkpoint may need; an nnU-Net folder's plans.json and dataset.json give
// all of them.
void refuse_plan_options(const ImportArgs& a) {
  const NetworkArgs& n = a.plan.network;
  const bool network = n.arch || n.classes || n.in_channels || n.hidden || !n.dims.empty() || !n.depths.empty() || !n.kernel_sizes.empty() ||
                       n.reparam || n.bfr_alpha || n.conv_impl || !a.plan.plan.class_names.empty();
  const PlanArgs& p = a.plan;
  const bool preprocessing = !p.plan_file.empty() || !p.preset.empty() || !p.spacing.empty() || p.intensity || !p.ct_window.empty() || p.no_crop ||
                             !p.patch.empty();
  const InferenceSettings& i = p.plan.inference;
  const InferenceSettings d;
  const bool inference = i.overlap != d.overlap || i.blending != d.blending || i.mirror_axes != d.mirror_axes || i.window_growth != d.window_growth;
  if (network || preprocessing || inference) {
    fail("{}: an nnU-Net results folder's plans.json and dataset.json give the network, classes, preprocessing and inference; drop "
         "those options",
         a.checkpoint);
  }
}

// What of nnU-Net's postprocessing.pkl was taken, and what was skipped.
void report_postprocessing(const LoadedModel& m) {
  const auto& pp = m.info.provenance.value("postprocessing", nlohmann::json());
  if (pp.is_null()) return;
  for (const auto& why : pp.value("skipped", std::vector<std::string>{})) fmt::print(stderr, "warning: {}: {}\n", pp["file"].get<std::string>(), why);
  fmt::print("post-processing from {}: {}\n", pp["file"].get<std::string>(), describe(m.info.plan.postprocessing, m.info.plan.class_names));
}

// A folder of several tasks (TotalSegmentator's parts): one model file, of one fold.
void run_import_nnunet_parts(const ImportArgs& a, const std::vector<std::string>& parts, NnunetImportOptions o) {
  const auto folds = a.folds.empty() ? nnunet_folds(parts[0]) : a.folds;
  if (folds.size() != 1) fail("{}: a multi-part model is imported for one fold; choose it with --fold (its first part has {})", o.folder, fmt::join(folds, ", "));
  o.fold = folds[0];
  refuse_writing_over_inputs({o.folder}, a.output);
  LoadedModel m = import_nnunet_parts(parts, o);
  save_model(m, a.output);
  fmt::print("imported {} nnU-Net parts of fold {} ({} classes together) into {}\n", parts.size(), o.fold, m.info.plan.class_names.size() - 1, a.output);
}

void run_import_nnunet(const ImportArgs& a) {
  refuse_plan_options(a);
  NnunetImportOptions o;
  o.folder = a.checkpoint;
  o.checkpoint = a.nnunet_checkpoint == "final" || a.nnunet_checkpoint == "best" ? "checkpoint_" + a.nnunet_checkpoint + ".pth" : a.nnunet_checkpoint;
  if (o.checkpoint.find('/') != std::string::npos) fail("--checkpoint {}: expected final, best or a file name inside fold_K/", o.checkpoint);
  if (const auto parts = nnunet_part_folders(o.folder); !parts.empty()) return run_import_nnunet_parts(a, parts, o);
  std::vector<std::string> folds = a.folds.empty() ? nnunet_folds(o.folder) : a.folds;
  if (folds.empty()) fail("{}: no fold_K folder (not an nnU-Net results folder?)", o.folder);
  for (const auto& fold : folds) {
    o.fold = fold;
    const std::string output = fold_output(a.output, fold, folds.size());
    refuse_writing_over_inputs({o.folder}, output);
    LoadedModel m = import_nnunet_model(o);
    report_postprocessing(m);
    save_model(m.net, m.info, output);
    fmt::print("imported nnU-Net {} fold {} ({}, {} parameters, {} classes) into {}\n", m.info.provenance["configuration"].get<std::string>(), fold,
               enum_name(m.info.plan.network.unet->network), parameter_count(*m.net), m.info.plan.class_names.size(), output);
  }
}

// "dims 48 96 192 384, depths 2 2 2 2, kernel sizes 21 21 21 21, hidden 768, 1 input channel, 5 classes"
std::string describe_sizes(const NetworkConfig& c) {
  return fmt::format("{}: dims {}, depths {}, kernel sizes {}, hidden {}, {} input channel(s), {} classes", c.arch, fmt::join(c.dims, " "),
                     fmt::join(c.depths, " "), fmt::join(c.kernel_sizes, " "), c.hidden_size, c.in_channels, c.out_channels);
}

// What the model will do with an image, said plainly: the official code leaves spacing and window to
// the user's own pipeline, so nothing given means the image's own spacing, which the user should know.
void report_preprocessing(const Plan& plan, bool given) {
  const PreprocessRecipe& r = plan.preprocessing;
  const std::string spacing = r.spacing ? fmt::format("{} mm", fmt::join(*r.spacing, " x ")) : std::string("each image's own spacing");
  const std::string intensity =
      r.intensity == Intensity::Ct ? fmt::format("CT window {} to {} HU", r.window_min, r.window_max) : std::string(enum_name(r.intensity));
  fmt::print("preprocessing{}: {}, {}, patch {}\n", given ? "" : " (none given: --preset flare or amos for the paper's models)", spacing, intensity,
             fmt::join(plan.patch, "x"));
}

void run_import(const ImportArgs& a) {
  if (std::filesystem::is_directory(a.checkpoint)) return run_import_nnunet(a);
  if (!a.folds.empty()) fail("--fold applies to an nnU-Net results folder, but {} is a file", a.checkpoint);
  refuse_writing_over_inputs({a.checkpoint}, a.output);
  const NamedTensors state = read_torch_state_dict(a.checkpoint);
  PlanArgs args = a.plan;
  args.plan.network = official_network(state, a.checkpoint);
  fmt::print("network from the tensors: {}\n", describe_sizes(args.plan.network));
  if (args.network.arch && *args.network.arch != args.plan.network.arch) {
    fail("{}: is a {} checkpoint, but --arch says {}", a.checkpoint, args.plan.network.arch, *args.network.arch);
  }
  // Without a plan or preset: the image's own spacing (preset none), said below, never a silent CT preset.
  if (args.plan_file.empty() && args.preset.empty()) args.preset = "none";
  const ResolvedPlan r = resolve_plan(args);
  const NetworkConfig& shown = args.plan.network;
  const NetworkConfig& asked = r.plan.network;
  if (asked.dims != shown.dims || asked.depths != shown.depths || asked.kernel_sizes != shown.kernel_sizes || asked.hidden_size != shown.hidden_size ||
      asked.in_channels != shown.in_channels || asked.out_channels != shown.out_channels) {
    fail("{}: the options ask for {}, but the tensors are those of {}; leave the size options out (they are read from the tensors)",
         a.checkpoint, describe_sizes(asked), describe_sizes(shown));
  }
  LoadedModel m = import_official_checkpoint(state, a.checkpoint, r.plan.network);
  m.info.plan = r.plan;
  m.info.plan.network = m.net->config;
  report_preprocessing(m.info.plan, r.preprocessing_given);
  save_model(m.net, m.info, a.output);
  fmt::print("imported {} ({} parameters, {} classes) into {}\n", a.checkpoint, parameter_count(*m.net), m.info.plan.network.out_channels,
             a.output);
}

struct ExportArgs {
  std::string model, output;
};

struct ForwardArgs {
  std::string model, input, output, device = "cpu";
};

void run_export(const ExportArgs& a) {
  refuse_writing_over_inputs({a.model}, a.output);
  LoadedModel m = load_model(a.model);
  // Deep supervision's heads are for training only; the official networks have none.
  NamedTensors state;
  for (auto& entry : state_dict(m.net, KernelForm::Effective)) {
    if (!is_deep_head_key(entry.first)) state.push_back(std::move(entry));
  }
  write_torch_state_dict(state, a.output);
  fmt::print("exported {} tensors to {}\n", state.size(), a.output);
}

void run_forward(const ForwardArgs& a) {
  const std::string& input = a.input;
  const std::string& output = a.output;
  refuse_writing_over_inputs({a.model, input}, output);
  const torch::Device device = device_from_name(a.device, "--device");
  LoadedModel m = load_model(a.model, device);
  auto x = read_npy(input);
  if (!x.is_floating_point()) fail("{}: expected a float32 or float64 array", input);
  const auto dtype = x.scalar_type();
  torch::NoGradGuard no_grad;
  auto y = m.net->forward(x.to(device, torch::kFloat32));
  write_npy(y.to(torch::kCPU, dtype), output);
  fmt::print("wrote logits {} to {}\n", c10::str(y.sizes()), output);
}

}  // namespace

void add_model_commands(CLI::App& app) {
  auto imp = std::make_shared<ImportArgs>();
  auto* cmd = app.add_subcommand("import",
                                 "Import an nnU-Net v2 results folder, or an official PyTorch checkpoint (.pth written by torch.save), as a repux model file");
  cmd->add_option("checkpoint,-i,--input", imp->checkpoint,
                  "nnU-Net results folder (<Trainer>__<Plans>__<configuration>/), or an official checkpoint: a state dict, or a dict "
                  "holding one under 'state_dict' or 'model'")
      ->required();
  cmd->add_option("-o,--output", imp->output, "Model file to write (several folds: <name>_fold<K>.repux beside it)")->required();
  cmd->add_option("-f,--fold", imp->folds, "nnU-Net folds to import (0 1 2 3 4, or all for fold_all); default: every fold_K in the folder");
  cmd->add_option("--checkpoint", imp->nnunet_checkpoint, "nnU-Net checkpoint: final, best, or a file name in fold_K/")->capture_default_str();
  // An official checkpoint: its sizes are read from the tensors (the network options may only agree),
  // and the preprocessing and inference it expects are the user's to say (--preset flare|amos: the paper's).
  bind_plan(cmd, imp->plan);
  cmd->callback([imp] { run_import(*imp); });

  auto exp = std::make_shared<ExportArgs>();
  auto* ecmd = app.add_subcommand("export", "Export a model's deploy weights as a .pth the official code can load_state_dict");
  ecmd->add_option("model,-m,--model", exp->model, "repux model file")->required();
  ecmd->add_option("-o,--output", exp->output, ".pth file to write")->required();
  ecmd->callback([exp] { run_export(*exp); });

  auto fwd = std::make_shared<ForwardArgs>();
  auto* fcmd = app.add_subcommand("forward", "Run the raw network on a NumPy array [N, C, D, H, W] and save the logits as .npy");
  fcmd->add_option("-m,--model", fwd->model, "repux model file")->required();
  fcmd->add_option("-i,--input", fwd->input, "Input .npy (float32 or float64)")->required();
  fcmd->add_option("-o,--output", fwd->output, "Output .npy (same float type as the input)")->required();
  fcmd->add_option("--device", fwd->device, "cpu or cuda")->capture_default_str();
  fcmd->callback([fwd] { run_forward(*fwd); });
}

}  // namespace repux::cli
