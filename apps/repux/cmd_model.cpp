// Model commands: `repux import` (official checkpoint -> model file), `repux export` (model file ->
// official-compatible .pth), `repux forward` (raw network on a .npy tensor, for parity checks).
#include "commands.h"
#include "options.h"

#include "repux/error.h"
#include "repux/io/npy.h"
#include "repux/model/model_file.h"

#include <fmt/format.h>

namespace repux::cli {
namespace {

struct ImportArgs {
  std::string checkpoint, output;
  NetworkArgs network;
  std::vector<std::string> class_names;
};

void run_import(const ImportArgs& a) {
  refuse_writing_over_inputs({a.checkpoint}, a.output);
  LoadedModel m = import_official_checkpoint(a.checkpoint, apply_network_args(NetworkConfig{}, a.network));
  if (!a.class_names.empty()) {
    m.info.plan.class_names = a.class_names;
    m.info.plan = resolved(m.info.plan);  // checks the count against the classes
  }
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
  const NamedTensors state = state_dict(m.net, KernelForm::Effective);
  write_torch_state_dict(state, a.output);
  fmt::print("exported {} tensors to {}\n", state.size(), a.output);
}

void run_forward(const ForwardArgs& a) {
  const std::string& input = a.input;
  const std::string& output = a.output;
  refuse_writing_over_inputs({a.model, input}, output);
  const torch::Device device(a.device);
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
  auto* cmd = app.add_subcommand("import", "Import an official PyTorch checkpoint (.pth written by torch.save) as a repux model file");
  cmd->add_option("checkpoint", imp->checkpoint, "Official checkpoint: a state dict, or a dict holding one under 'state_dict' or 'model'")
      ->required();
  cmd->add_option("-o,--output", imp->output, "Model file to write")->required();
  cmd->add_option("--class-names", imp->class_names, "Names of the classes, background first");
  bind_network(cmd, imp->network);
  cmd->callback([imp] { run_import(*imp); });

  auto exp = std::make_shared<ExportArgs>();
  auto* ecmd = app.add_subcommand("export", "Export a model's deploy weights as a .pth the official code can load_state_dict");
  ecmd->add_option("model", exp->model, "repux model file")->required();
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
