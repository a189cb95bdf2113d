// nnU-Net v2 models imported from their results folders: networks built by dynamic_network_architectures
// itself and saved as nnU-Net's trainer saves them (tools/make_nnunet_fixtures.py), against their own
// forward; the plans' inference contract; what repux cannot run refused by name.
#include "repux/io/npy.h"
#include "repux/io/torch_checkpoint.h"
#include "repux/model/model_file.h"
#include "repux/model/nnunet_import.h"
#include "repux/infer/predictor.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace repux;
using repux::test::data_path;
using repux::test::relative_error;
using repux::test::run_repux;
using repux::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  std::string name, checkpoint;
};

const std::vector<Fixture> kFixtures = {{"plain_iso_instance", "checkpoint_final.pth"},
                                        {"plain_aniso_batch", "checkpoint_final.pth"},
                                        {"resenc_iso_instance_oldplans", "checkpoint_best.pth"},
                                        {"resenc_aniso_batch", "checkpoint_final.pth"}};

std::string folder_of(const std::string& name) { return data_path("nnunet/" + name + "/nnUNetTrainer__nnUNetPlans__3d_fullres"); }

LoadedModel import_fixture(const Fixture& f) {
  NnunetImportOptions o;
  o.folder = folder_of(f.name);
  o.checkpoint = f.checkpoint;
  return import_nnunet_model(o);
}

// A copy of a fixture's results folder whose plans.json `edit` changes.
std::string edited_copy(const TempDir& dir, const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path to = fs::path(dir.path()) / "nnUNetTrainer__nnUNetPlans__3d_fullres";
  fs::copy(folder_of(name), to, fs::copy_options::recursive);
  nlohmann::json plans = nlohmann::json::parse(std::ifstream(to / "plans.json"));
  edit(plans);
  std::ofstream(to / "plans.json") << plans.dump();
  return to.string();
}

std::string import_error(const std::string& folder) {
  NnunetImportOptions o;
  o.folder = folder;
  try {
    import_nnunet_model(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

nlohmann::json& arch_kwargs(nlohmann::json& plans) { return plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]; }

}  // namespace

TEST(NnunetModel, LogitsEqualDynamicNetworkArchitecturesForward) {
  for (const auto& f : kFixtures) {
    SCOPED_TRACE(f.name);
    LoadedModel m = import_fixture(f);
    const auto x = read_npy(data_path("nnunet/" + f.name + "/input.npy"));
    const auto want = read_npy(data_path("nnunet/" + f.name + "/logits.npy"));
    torch::NoGradGuard no_grad;
    const auto got = m.net->forward(x);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT(relative_error(got, want), 1e-4);
  }
}

TEST(NnunetModel, BothPlansFormatsGiveTheirNetworks) {
  const UNetArchitecture old = *import_fixture(kFixtures[2]).info.plan.network.unet;
  EXPECT_EQ(old.network, UNetClass::ResidualEncoder);
  EXPECT_EQ(old.features, (std::vector<int64_t>{4, 8, 12}));  // min(UNet_base_num_features * 2^i, unet_max_num_features)
  EXPECT_TRUE(old.conv_bias);
  EXPECT_EQ(old.norm, UNetNorm::Instance);
  const UNetArchitecture plain = *import_fixture(kFixtures[1]).info.plan.network.unet;
  EXPECT_EQ(plain.network, UNetClass::PlainConv);
  EXPECT_EQ(plain.norm, UNetNorm::Batch);
  EXPECT_DOUBLE_EQ(plain.norm_eps, 1e-3);
  EXPECT_DOUBLE_EQ(plain.norm_momentum, 0.01);
  EXPECT_EQ(plain.nonlin, UNetNonlin::ReLU);
  EXPECT_DOUBLE_EQ(plain.dropout, 0.2);
  EXPECT_TRUE(plain.nonlin_first);
  EXPECT_EQ(plain.kernel_sizes[0], (Triple{1, 3, 3}));
  EXPECT_EQ(plain.input_multiple(), (Triple{2, 8, 8}));
}

TEST(NnunetModel, TheCheckpointIsReadWithoutExecutingAnything) {
  const auto c = read_torch_checkpoint(folder_of("plain_iso_instance") + "/fold_0/checkpoint_final.pth");
  ASSERT_TRUE(c.state_dicts.count("network_weights"));
  EXPECT_TRUE(c.state_dicts.at("network_weights").size() > 20);
  EXPECT_EQ(c.values["trainer_name"], "nnUNetTrainer");
  EXPECT_EQ(c.values["inference_allowed_mirroring_axes"], nlohmann::json::array({0, 1, 2}));
  EXPECT_NEAR(c.values["_best_ema"].get<double>(), 0.511, 1e-12);  // a numpy float64
  EXPECT_EQ(c.values["init_args"]["device"], (nlohmann::json{{"__class__", "torch.device"}, {"args", {"cuda", 0}}}));
  EXPECT_EQ(c.values["init_args"]["configuration"], "3d_fullres");
  EXPECT_EQ(c.values["logging"]["mean_fg_dice"][1].get<double>(), 0.61);
  EXPECT_TRUE(c.values["optimizer_state"]["state"]["0"]["momentum_buffer"].contains("__tensor__"));
}

TEST(NnunetModel, ThePlanCarriesNnunetsInferenceContract) {
  // plain_aniso_batch: spacing [2.5, 0.8, 0.8] and patch [12, 32, 48] in (k, j, i); mirroring over (1, 2).
  const Plan p = import_fixture(kFixtures[1]).info.plan;
  EXPECT_EQ(p.network_axes, (std::array<int64_t, 3>{2, 1, 0}));
  EXPECT_EQ(*p.preprocessing.spacing, (std::array<double, 3>{0.8, 0.8, 2.5}));
  EXPECT_EQ(p.patch, (std::array<int64_t, 3>{48, 32, 12}));
  EXPECT_EQ(p.inference.mirror_axes, (std::vector<int64_t>{0, 1}));
  EXPECT_DOUBLE_EQ(p.inference.overlap, 0.5);
  EXPECT_EQ(p.preprocessing.intensity, Intensity::ZScoreAll);
  EXPECT_FALSE(p.preprocessing.orient_ras);
  EXPECT_EQ(p.network.in_channels, 4);
  EXPECT_EQ(p.class_names, (std::vector<std::string>{"background", "organ1"}));
  // resenc_aniso_batch: transpose_forward [0, 2, 1], so network axes (k, i, j).
  const Plan t = import_fixture(kFixtures[3]).info.plan;
  EXPECT_EQ(t.network_axes, (std::array<int64_t, 3>{2, 0, 1}));
  EXPECT_EQ(t.preprocessing.intensity, Intensity::ZScore);  // use_mask_for_norm
  // plain_iso_instance: CTNormalization with the training set's foreground statistics.
  const auto& ct = import_fixture(kFixtures[0]).info.plan.preprocessing;
  EXPECT_EQ(ct.intensity, Intensity::CtNormalization);
  EXPECT_DOUBLE_EQ(ct.window_min, -980.0);
  EXPECT_DOUBLE_EQ(ct.window_max, 1200.0);
  EXPECT_DOUBLE_EQ(ct.ct_mean, 80.5);
  EXPECT_DOUBLE_EQ(ct.ct_std, 150.25);
}

TEST(NnunetModel, AModelFileKeepsTheNetworkAndItsContract) {
  TempDir dir;
  for (const auto& f : kFixtures) {
    SCOPED_TRACE(f.name);
    LoadedModel m = import_fixture(f);
    const std::string path = dir.path().string() + "/" + f.name + ".repux";
    save_model(m.net, m.info, path);
    LoadedModel back = load_model(path);
    EXPECT_EQ(to_json(back.info.plan), to_json(m.info.plan));
    const auto x = read_npy(data_path("nnunet/" + f.name + "/input.npy"));
    torch::NoGradGuard no_grad;
    EXPECT_LT(relative_error(back.net->forward(x), read_npy(data_path("nnunet/" + f.name + "/logits.npy"))), 1e-4);
  }
}

// The network runs in its own axes: a model whose network axes reverse the volume's predicts on a
// volume what the same network with identity axes predicts on the reversed volume, reversed back.
TEST(NnunetModel, PredictRunsTheNetworkInItsOwnAxes) {
  LoadedModel m = import_fixture(kFixtures[0]);  // isotropic, so any axis order is a valid input
  Volume image;
  image.data = torch::randn({2, 20, 24, 28}) * 300;
  image.affine = torch::eye(4, torch::kFloat64);
  image.affine[0][0] = image.affine[1][1] = image.affine[2][2] = 1.5;  // the plans' spacing: no resampling
  PredictOptions options;
  options.keep_probabilities = true;
  m.info.plan.network_axes = {2, 1, 0};
  m.info.plan.inference.mirror_axes = {};
  const auto permuted = predict_volume(m, image, options).probabilities.data;
  LoadedModel identity = import_fixture(kFixtures[0]);
  Plan& plan = identity.info.plan;
  plan.network_axes = {0, 1, 2};
  plan.inference.mirror_axes = {};
  std::reverse(plan.patch.begin(), plan.patch.end());  // the same windows, on the reversed volume
  plan.inference.window = plan.patch;
  Volume reversed = image;
  reversed.data = image.data.permute({0, 3, 2, 1}).contiguous();
  const auto direct = predict_volume(identity, reversed, options).probabilities.data.permute({0, 3, 2, 1});
  ASSERT_EQ(permuted.sizes(), direct.sizes());
  EXPECT_LT(relative_error(permuted, direct), 1e-5);
}

TEST(NnunetModel, RefusesWhatItCannotRunNamingIt) {
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& p) { p["configurations"]["3d_fullres"]["architecture"]["network_class_name"] = "dynamic_network_architectures.architectures.primus.PrimusM"; },
       "network class dynamic_network_architectures.architectures.primus.PrimusM is not one repux has"},
      {[](nlohmann::json& p) { arch_kwargs(p)["norm_op"] = "torch.nn.GroupNorm"; }, "norm_op GroupNorm is not one repux has"},
      {[](nlohmann::json& p) { arch_kwargs(p)["conv_op"] = "torch.nn.modules.conv.Conv2d"; }, "conv_op Conv2d is not 3D"},
      {[](nlohmann::json& p) { arch_kwargs(p)["squeeze"] = 1; }, "unknown key 'squeeze'"},
      {[](nlohmann::json& p) { arch_kwargs(p)["nonlin_kwargs"]["alpha"] = 1; }, "unknown key 'alpha' in"},
      {[](nlohmann::json& p) { arch_kwargs(p)["strides"][1] = {2, 2}; }, "is not 3D"},
      {[](nlohmann::json& p) { p["image_reader_writer"] = "Tiff3DIO"; }, "image_reader_writer Tiff3DIO"},
      {[](nlohmann::json& p) { arch_kwargs(p)["conv_bias"] = "yes"; }, "configuration '3d_fullres': type must be boolean"},
      {[](nlohmann::json& p) { p["configurations"]["3d_fullres"]["normalization_schemes"] = {"CTNormalization", "ZScoreNormalization"}; },
       "differ between channels"},
  };
  for (const auto& [edit, expected] : cases) {
    SCOPED_TRACE(expected);
    TempDir dir;
    const std::string error = import_error(edited_copy(dir, "plain_iso_instance", edit));
    EXPECT_NE(error.find(expected), std::string::npos) << error;
    EXPECT_NE(error.find("plans.json"), std::string::npos) << error;
  }
  TempDir dir;
  const std::string folder = edited_copy(dir, "resenc_aniso_batch", [](nlohmann::json& p) {
    arch_kwargs(p)["block"] = "dynamic_network_architectures.building_blocks.residual.BottleneckD";
  });
  EXPECT_NE(import_error(folder).find("BottleneckD"), std::string::npos);
}

TEST(NnunetModel, ImportCommandWritesOneModelFilePerFold) {
  TempDir dir;
  const std::string folder = edited_copy(dir, "plain_iso_instance", [](nlohmann::json&) {});
  fs::copy(folder + "/fold_0", folder + "/fold_1", fs::copy_options::recursive);
  const auto r = run_repux("import " + folder + " -o " + dir.path().string() + "/model.repux");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir.path().string() + "/model_fold0.repux")) << r.output;
  EXPECT_TRUE(fs::exists(dir.path().string() + "/model_fold1.repux")) << r.output;
  const auto one = run_repux("import " + folder + " --fold 1 -o " + dir.path().string() + "/one.repux");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("PlainConvUNet"), std::string::npos) << one.output;
  const auto info = run_repux("info " + dir.path().string() + "/one.repux");
  EXPECT_NE(info.output.find("nnUNetTrainer"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("nnunet (PlainConvUNet, widths 4/8/16, convs per stage 2/2/2, strides 1x1x1/2x2x2/2x2x2, instance norm"),
            std::string::npos)
      << info.output;
  const auto missing = run_repux("import " + folder + " --fold 3 -o " + dir.path().string() + "/x.repux");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("fold_3/checkpoint_final.pth: not found (folds here: 0, 1)"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(dir.path().string() + "/x.repux"));
  // The folder's plans give the network, preprocessing and inference: options for them are refused.
  for (const std::string option : {"--arch repuxnet", "--preset flare", "--spacing 2", "--overlap 0.5"}) {
    const auto flags = run_repux("import " + folder + " " + option + " -o " + dir.path().string() + "/y.repux");
    EXPECT_NE(flags.exit_code, 0) << option;
    EXPECT_NE(flags.output.find("give the network, classes, preprocessing and inference; drop those options"), std::string::npos)
        << option << ": " << flags.output;
  }
}
