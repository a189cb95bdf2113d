// Model commands: `repux import` (official checkpoint -> model file), `repux export` (model file ->
// official-compatible .pth), `repux forward` (raw network on a .npy tensor, for parity checks).
#include "commands.h"

#include "repux/error.h"
#include "repux/io/npy.h"
#include "repux/nn/model_file.h"

#include <fmt/format.h>

namespace repux::cli {
namespace {

struct ImportArgs {
  std::string checkpoint, output, arch = "repuxnet", reparam;
  int64_t classes = 14, in_channels = 1, hidden = 768;
  std::vector<int64_t> dims{48, 96, 192, 384}, depths{2, 2, 2, 2}, kernels;
  std::vector<std::string> class_names;
  bool bfr_finetune = false;
};

void run_import(const ImportArgs& a) {
  NetworkConfig config;
  config.arch = a.arch;
  config.out_channels = a.classes;
  config.in_channels = a.in_channels;
  config.dims = a.dims;
  config.depths = a.depths;
  config.kernel_sizes = a.kernels;
  config.hidden_size = a.hidden;
  config.reparam = a.reparam;
  LoadedModel m = import_official_checkpoint(a.checkpoint, config);
  if (!a.class_names.empty()) {
    if (static_cast<int64_t>(a.class_names.size()) != a.classes) {
      fail("--class-names lists {} names but --classes is {}", a.class_names.size(), a.classes);
    }
    m.info.class_names = a.class_names;
  }
  save_model(m.net, m.info, a.output);
  fmt::print("imported {} ({} parameters, {} classes) into {}\n", a.checkpoint, parameter_count(*m.net), a.classes, a.output);
}

void run_forward(const std::string& model_path, const std::string& input, const std::string& output, const std::string& device) {
  LoadedModel m = load_model(model_path, torch::Device(device));
  auto x = read_npy(input);
  if (!x.is_floating_point()) fail("{}: expected a float32 or float64 array", input);
  const auto dtype = x.scalar_type();
  torch::NoGradGuard no_grad;
  auto y = m.net->forward(x.to(torch::Device(device), torch::kFloat32));
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
  cmd->add_option("--arch", imp->arch, "Architecture: repuxnet or uxnet")->capture_default_str();
  cmd->add_option("--classes", imp->classes, "Output classes including background")->capture_default_str();
  cmd->add_option("--class-names", imp->class_names, "Names of the classes, background first");
  cmd->add_option("--in-channels", imp->in_channels, "Input channels")->capture_default_str();
  cmd->add_option("--dims", imp->dims, "Encoder widths of the four stages")->capture_default_str();
  cmd->add_option("--depths", imp->depths, "Blocks per stage")->capture_default_str();
  cmd->add_option("--kernel-sizes", imp->kernels, "Depthwise kernel size per stage (default 21 for repuxnet, 7 for uxnet)");
  cmd->add_option("--hidden", imp->hidden, "Decoder hidden size")->capture_default_str();
  cmd->callback([imp] { run_import(*imp); });

  auto exp = std::make_shared<std::pair<std::string, std::string>>();
  auto* ecmd = app.add_subcommand("export", "Export a model's deploy weights as a .pth the official code can load_state_dict");
  ecmd->add_option("model", exp->first, "repux model file")->required();
  ecmd->add_option("-o,--output", exp->second, ".pth file to write")->required();
  ecmd->callback([exp] {
    LoadedModel m = load_model(exp->first);
    const NamedTensors state = state_dict(m.net, KernelForm::Effective);
    write_torch_state_dict(state, exp->second);
    fmt::print("exported {} tensors to {}\n", state.size(), exp->second);
  });

  auto fwd = std::make_shared<std::array<std::string, 4>>();
  (*fwd)[3] = "cpu";
  auto* fcmd = app.add_subcommand("forward", "Run the raw network on a NumPy array [N, C, D, H, W] and save the logits as .npy");
  fcmd->add_option("-m,--model", (*fwd)[0], "repux model file")->required();
  fcmd->add_option("-i,--input", (*fwd)[1], "Input .npy (float32 or float64)")->required();
  fcmd->add_option("-o,--output", (*fwd)[2], "Output .npy (same float type as the input)")->required();
  fcmd->add_option("--device", (*fwd)[3], "cpu or cuda")->capture_default_str();
  fcmd->callback([fwd] { run_forward((*fwd)[0], (*fwd)[1], (*fwd)[2], (*fwd)[3]); });
}

}  // namespace repux::cli
