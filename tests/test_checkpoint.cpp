// Checkpoint import errors, export read back by Python's torch.load, model files and .npy through the CLI.
#include "repux/error.h"
#include "repux/io/npy.h"
#include "repux/io/safetensors.h"
#include "repux/model/model_file.h"
#include "fixture_networks.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace repux;
using repux::test::data_path;
using repux::test::error_of;
using repux::test::reduced_repuxnet;
using repux::test::relative_error;

namespace {

bool have_python_torch() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

}  // namespace

TEST(Checkpoint, ImportErrorsSayWhatIsWrong) {
  repux::test::TempDir dir;
  const std::string good = data_path("networks/repuxnet_state.pth");
  {
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir.file("truncated.pth"), std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    std::ofstream(dir.file("legacy.pth"), std::ios::binary) << std::string("\x80\x02\x8a\x0alegacy", 10);
  }
  EXPECT_NE(error_of([&] { import_official_checkpoint(dir.file("truncated.pth"), reduced_repuxnet()); }).find("truncated"),
            std::string::npos);
  EXPECT_NE(error_of([&] { import_official_checkpoint(dir.file("legacy.pth"), reduced_repuxnet()); }).find("legacy"),
            std::string::npos);
  auto ux = reduced_repuxnet();
  ux.arch = "uxnet";
  EXPECT_NE(error_of([&] { import_official_checkpoint(good, ux); }).find("is a repuxnet checkpoint, but --arch says uxnet"),
            std::string::npos);
  EXPECT_NE(error_of([&] { import_official_checkpoint(good, reduced_repuxnet(5)); }).find("has 3 output classes"),
            std::string::npos);
  // A tensor of the wrong shape and a missing key, written with the Python-compatible writer.
  auto state = read_torch_state_dict(good);
  for (auto& [k, v] : state) {
    if (k == "encoder2.layer.conv1.conv.weight") v = torch::zeros({8, 4, 5, 5, 5});
  }
  state.pop_back();
  write_torch_state_dict(state, dir.file("bad_shape.pth"));
  const std::string msg = error_of([&] { import_official_checkpoint(dir.file("bad_shape.pth"), reduced_repuxnet()); });
  EXPECT_NE(msg.find("encoder2.layer.conv1.conv.weight is [8, 4, 5, 5, 5] but the network needs [8, 4, 3, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 missing keys"), std::string::npos) << msg;
}

TEST(Checkpoint, ExportIsReadByPythonTorchLoad) {
  if (!have_python_torch()) GTEST_SKIP() << "Debian's python3-torch is not installed";
  repux::test::TempDir dir;
  auto m = import_official_checkpoint(data_path("networks/repuxnet_state.pth"), reduced_repuxnet());
  const auto state = state_dict(m.net, KernelForm::Effective);
  write_torch_state_dict(state, dir.file("deploy.pth"));
  double sum = 0;
  for (const auto& [k, v] : state) sum += v.to(torch::kFloat64).sum().item<double>();
  // Python loads it with the official loader path and compares with the checkpoint it came from.
  const std::string script = dir.file("check.py");
  std::ofstream(script) << "import sys, torch\n"
                           "d = torch.load(sys.argv[1]); o = torch.load(sys.argv[2])\n"
                           "assert type(d) is dict and set(d) == set(o), 'keys differ'\n"
                           "assert all(torch.equal(d[k], o[k]) for k in d), 'values differ'\n"
                           "print(len(d), float(sum(v.double().sum() for v in d.values())))\n";
  FILE* pipe = ::popen(("/usr/bin/python3 " + script + " " + dir.file("deploy.pth") + " " +
                        data_path("networks/repuxnet_state.pth") + " 2>&1").c_str(), "r");
  char buffer[512] = {0};
  std::string text;
  while (std::fgets(buffer, sizeof(buffer), pipe)) text += buffer;
  ASSERT_EQ(::pclose(pipe), 0) << text;
  size_t count = 0;
  double py_sum = 0;
  ASSERT_EQ(std::sscanf(text.c_str(), "%zu %lf", &count, &py_sum), 2) << text;
  EXPECT_EQ(count, state.size());
  EXPECT_NEAR(py_sum, sum, 1e-6 * std::abs(sum));
}

TEST(Checkpoint, ModelFileRoundTripAndCommands) {
  repux::test::TempDir dir;
  const std::string model = dir.file("model.repux");
  auto r = repux::test::run_repux("import " + data_path("networks/repuxnet_state.pth") +
                                  " --arch repuxnet --classes 3 --dims 4 8 16 32 --depths 1 1 1 1 --hidden 32"
                                  " --class-names background liver tumour -o " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = repux::test::run_repux("info " + model);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("parameters:    801103"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("background, liver, tumour"), std::string::npos) << r.output;
  r = repux::test::run_repux("forward -m " + model + " -i " + data_path("networks/repuxnet_input.npy") + " -o " + dir.file("y.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_LT(relative_error(read_npy(dir.file("y.npy")), read_npy(data_path("networks/repuxnet_logits.npy"))), 1e-5);
  r = repux::test::run_repux("export " + model + " -o " + dir.file("deploy.pth"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto back = import_official_checkpoint(dir.file("deploy.pth"), reduced_repuxnet());
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_error(back.net->forward(read_npy(data_path("networks/repuxnet_input.npy"))),
                           read_npy(data_path("networks/repuxnet_logits.npy"))),
            1e-5);
  // A file that is not a model: one line, non-zero exit, nothing written.
  r = repux::test::run_repux("forward -m " + data_path("networks/repuxnet_input.npy") + " -i x.npy -o " + dir.file("z.npy"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("not a safetensors file"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("z.npy")));
}

// `repux import` of an official checkpoint with no size options: the widths, depths, kernels, hidden
// size and classes read from the tensors (the fixtures are PyTorch's, written by the official classes),
// the paper's preset recorded, and sizes that disagree with the tensors refused in one line.
TEST(Checkpoint, ImportReadsTheNetworkFromTheTensorsAndTakesThePreprocessing) {
  repux::test::TempDir dir;
  const std::pair<std::string, std::string> fixtures[] = {{"repuxnet", "dims 4 8 16 32, depths 1 1 1 1, kernel sizes 21 21 21 21, hidden 32"},
                                                          {"uxnet", "dims 8 16 32 64, depths 2 2 2 2, kernel sizes 7 7 7 7, hidden 64"}};
  for (const auto& [arch, sizes] : fixtures) {
    const std::string model = dir.file(arch + ".repux");
    auto r = repux::test::run_repux("import " + data_path("networks/" + arch + "_state.pth") + " --preset amos -o " + model);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("network from the tensors: " + arch + ": " + sizes + ", 1 input channel(s), 3 classes"), std::string::npos) << r.output;
    LoadedModel m = load_model(model);
    EXPECT_EQ(m.info.plan.preprocessing.spacing, (std::array<double, 3>{1.5, 1.5, 2.0}));
    EXPECT_EQ(m.info.plan.preprocessing.intensity, Intensity::Ct);
    torch::NoGradGuard no_grad;
    EXPECT_LT(relative_error(m.net->forward(read_npy(data_path("networks/" + arch + "_input.npy"))),
                             read_npy(data_path("networks/" + arch + "_logits.npy"))),
              1e-5);
  }
  // No preset: the image's own spacing, said so (not a silent CT preset).
  auto r = repux::test::run_repux("import " + data_path("networks/repuxnet_state.pth") + " -o " + dir.file("plain.repux"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("each image's own spacing"), std::string::npos) << r.output;
  EXPECT_FALSE(load_model(dir.file("plain.repux")).info.plan.preprocessing.spacing.has_value());
  r = repux::test::run_repux("import " + data_path("networks/repuxnet_state.pth") + " --dims 8 16 32 64 -o " + dir.file("wrong.repux"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("leave the size options out (they are read from the tensors)"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("wrong.repux")));
}

TEST(Checkpoint, NpyReadsFilesWrittenByNumpy) {
  const auto x = read_npy(data_path("networks/repuxnet_input.npy"));
  EXPECT_EQ(x.sizes(), (torch::IntArrayRef{1, 1, 32, 32, 32}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  repux::test::TempDir dir;
  write_npy(x.to(torch::kFloat64), dir.file("x.npy"));
  EXPECT_TRUE(torch::equal(read_npy(dir.file("x.npy")), x.to(torch::kFloat64)));
}
