// The Plan (a model's data contract) and the settings around it: the name tables of the enums, the
// plan's JSON round trip and its one-line errors, model files of the previous format, validation and
// predict starting from the same sliding window, and settings refused before any data is read.
#include "repux/data/synth.h"
#include "repux/error.h"
#include "repux/infer/predictor.h"
#include "repux/io/volume_file.h"
#include "repux/model/model_file.h"
#include "repux/model/plan.h"
#include "repux/nn/network_family.h"
#include "repux/train/lr_schedule.h"
#include "repux/train/validator.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace repux;
using repux::test::error_of;

namespace {

template <typename E>
void expect_names_round_trip(std::initializer_list<E> values) {
  for (E v : values) EXPECT_EQ(enum_from_name<E>(enum_name(v)), v) << enum_name(v);
  const std::string message = error_of([] { enum_from_name<E>("no-such-name"); });
  EXPECT_NE(message.find("'no-such-name'"), std::string::npos) << message;
  for (E v : values) EXPECT_NE(message.find(enum_name(v)), std::string::npos) << message;  // lists the known names
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// A plan unlike the defaults in every field the JSON carries.
Plan unusual_plan() {
  Plan p;
  p.network.arch = "uxnet";
  p.network.out_channels = 3;
  p.network.dims = {4, 8, 16, 32};
  p.network.depths = {1, 1, 1, 1};
  p.network.kernel_sizes = {5};
  p.network.hidden_size = 16;
  p.network.conv_impl = LkImpl::Fft;
  p.preprocessing = preprocess_preset("mri");
  p.preprocessing.spacing = std::array<double, 3>{1.5, 1.5, 3.0};
  p.preprocessing.crop_foreground = false;
  p.patch = {32, 48, 64};
  p.class_names = {"background", "grey", "white"};
  p.inference.window = std::array<int64_t, 3>{64, 64, 64};
  p.inference.overlap = 0.3;
  p.inference.blending = Blending::Constant;
  p.inference.mirror_axes = {0};
  p.inference.window_growth = 2.5;
  return p;
}

}  // namespace

TEST(Plan, EveryEnumParsesWhatItPrintsAndListsItsNamesWhenItCannot) {
  for (const std::string name : {"repuxnet", "uxnet", "resenc", "nnunet"}) EXPECT_EQ(network_family(name).name, name);
  EXPECT_EQ(test::error_of([] { network_family("unet"); }), "unknown architecture 'unet', expected one of: repuxnet, uxnet, resenc, nnunet");
  expect_names_round_trip({Reparam::None, Reparam::Bfr, Reparam::Structural});
  expect_names_round_trip({LkImpl::Direct, LkImpl::Fft, LkImpl::Auto});
  expect_names_round_trip({Precision::Float32, Precision::BFloat16});
  expect_names_round_trip({Intensity::Ct, Intensity::ZScore, Intensity::None, Intensity::CtNormalization, Intensity::ZScoreAll});
  expect_names_round_trip({UNetClass::PlainConv, UNetClass::ResidualEncoder});
  expect_names_round_trip({UNetNorm::None, UNetNorm::Instance, UNetNorm::Batch});
  expect_names_round_trip({UNetNonlin::None, UNetNonlin::LeakyReLU, UNetNonlin::ReLU});
  expect_names_round_trip({Blending::Constant, Blending::Gaussian});
  expect_names_round_trip({Schedule::None, Schedule::Cosine, Schedule::Poly});
  expect_names_round_trip({SampleType::UInt8, SampleType::Int8, SampleType::Int16, SampleType::UInt16, SampleType::Int32,
                           SampleType::Float32, SampleType::Float64});
  EXPECT_EQ(enum_from_name<Precision>("bfloat16"), Precision::BFloat16);  // an alias, never printed
  EXPECT_EQ(enum_name_list<Precision>(), "fp32, bf16");
}

TEST(Plan, JsonRoundTripKeepsEveryField) {
  const Plan p = unusual_plan();
  const Plan back = plan_from_json(nlohmann::json::parse(to_json(p).dump()));
  EXPECT_EQ(to_json(back), to_json(p));
  EXPECT_EQ(back.network.arch, "uxnet");
  EXPECT_EQ(back.network.kernel_sizes, (std::vector<int64_t>{5, 5, 5, 5}));
  EXPECT_EQ(back.network.reparam, Reparam::None);  // 3D UX-Net's default, written out
  EXPECT_EQ(back.network.conv_impl, LkImpl::Fft);
  EXPECT_EQ(back.preprocessing.intensity, Intensity::ZScore);
  EXPECT_EQ(*back.preprocessing.spacing, (std::array<double, 3>{1.5, 1.5, 3.0}));
  EXPECT_FALSE(back.preprocessing.crop_foreground);
  EXPECT_EQ(back.patch, (std::array<int64_t, 3>{32, 48, 64}));
  EXPECT_EQ(back.class_names, (std::vector<std::string>{"background", "grey", "white"}));
  EXPECT_EQ(*back.inference.window, (std::array<int64_t, 3>{64, 64, 64}));
  EXPECT_EQ(back.inference.overlap, 0.3);
  EXPECT_EQ(back.inference.blending, Blending::Constant);
  EXPECT_EQ(back.inference.mirror_axes, (std::vector<int64_t>{0}));
  EXPECT_EQ(back.inference.window_growth, 2.5);
}

TEST(Plan, DefaultsFillTheWindowFromThePatchAndTheClassNames) {
  Plan p;
  p.network.out_channels = 3;
  p.patch = {48, 48, 32};
  const Plan r = resolved(p);
  EXPECT_EQ(*r.inference.window, p.patch);
  EXPECT_EQ(r.class_names, (std::vector<std::string>{"background", "class1", "class2"}));
  EXPECT_EQ(r.network.kernel_sizes, (std::vector<int64_t>{21, 21, 21, 21}));
  EXPECT_EQ(r.network.reparam, Reparam::Bfr);
}

TEST(Plan, EachBadFieldIsNamedInOneLine) {
  const nlohmann::json good = to_json(unusual_plan());
  const std::vector<std::tuple<std::string, nlohmann::json, std::string>> cases{
      {"/network/arch", "resnet", "network"},
      {"/network/kernel_sizes", {4}, "network"},
      {"/network/out_channels", "three", "network"},
      {"/preprocessing/intensity", "hu", "preprocessing"},
      {"/preprocessing/spacing", {0.0, 1.0, 1.0}, "preprocessing"},
      {"/patch", {30, 32, 32}, "patch"},
      {"/patch", "big", "patch"},
      {"/class_names", {"background"}, "class_names"},
      {"/inference/window", {64, 64}, "inference.window"},
      {"/inference/overlap", 1.5, "inference.overlap"},
      {"/inference/blending", "mean", "inference.blending"},
      {"/inference/mirror_axes", {3}, "inference.mirror_axes"},
      {"/inference/window_growth", 0.5, "inference.window_growth"},
      {"/inference/window_growth", "big", "inference.window_growth"},
  };
  for (const auto& [pointer, value, field] : cases) {
    nlohmann::json bad = good;
    bad[nlohmann::json::json_pointer(pointer)] = value;
    const std::string message = error_of([&] { plan_from_json(bad); });
    SCOPED_TRACE(pointer + " = " + value.dump());
    EXPECT_NE(message.find("plan field '" + field + "'"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_NE(error_of([] { plan_from_json(nlohmann::json::array()); }).find("JSON object"), std::string::npos);
}

// A model file written by the previous format (version 1: network, class names and preprocessing at
// the top level, the patch inside the preprocessing), committed as written by that version.
TEST(Plan, AModelFileOfVersionOneLoadsWithItsPatchAndRecipe) {
  const LoadedModel m = load_model(test::data_path("models/tiny_v1.repux"));
  const Plan& p = m.info.plan;
  EXPECT_EQ(p.network.arch, "uxnet");
  EXPECT_EQ(p.network.out_channels, 4);
  EXPECT_EQ(p.patch, (std::array<int64_t, 3>{32, 32, 32}));
  EXPECT_EQ(*p.inference.window, p.patch);
  EXPECT_EQ(*p.preprocessing.spacing, (std::array<double, 3>{4.0, 4.0, 4.0}));
  EXPECT_EQ(p.class_names, synth_class_names());
  // And it still segments: predict runs end to end on a synthetic CT.
  test::TempDir dir;
  SynthOptions so;
  so.min_size = 30;
  so.max_size = 40;
  write_volume(make_synthetic_case(3, so).image, dir.file("ct.nii.gz"));
  auto r = test::run_repux("predict -m " + test::data_path("models/tiny_v1.repux") + " -i " + dir.file("ct.nii.gz") + " -o " +
                           dir.file("seg.nii.gz"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// The trainer's validation returns the typed result evaluate returns: the classes named as the Plan
// names them, Dice means (NaN for a class no case holds, left out of the mean), HD95 and surface Dice
// NaN (not computed while training), and it survives the JSON round trip of summary.json.
TEST(Plan, ValidationReturnsAnEvaluationSummaryOfDiceMeans) {
  const Plan plan = resolved(unusual_plan());
  torch::manual_seed(0);
  Segmenter net = create_network(plan.network);
  PreparedCase c;
  c.image = torch::randn({1, 32, 32, 32});
  c.label = torch::zeros({32, 32, 32}, torch::kInt64);
  c.label.slice(0, 0, 16).fill_(1);  // "grey" present, "white" absent
  const Validator validator(ValidationCases{1, [&](size_t) { return c; }}, plan, torch::kCPU, Precision::Float32);
  const EvaluationSummary s = validator.run(net);
  EXPECT_TRUE(net->is_training());
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"grey", "white"}));
  ASSERT_EQ(s.mean_per_class.size(), 2u);
  const double grey = s.mean_per_class[0].dice;
  EXPECT_TRUE(grey >= 0 && grey <= 1) << grey;
  EXPECT_TRUE(std::isnan(s.mean_per_class[1].dice));
  EXPECT_EQ(s.mean.dice, grey);
  EXPECT_TRUE(std::isnan(s.mean.hd95) && std::isnan(s.mean_per_class[0].surface_dice));
  const EvaluationSummary back = evaluation_summary_from_json(nlohmann::json::parse(to_json(s).dump()));
  EXPECT_EQ(back.class_names, s.class_names);
  EXPECT_EQ(back.mean.dice, grey);
  EXPECT_TRUE(std::isnan(back.mean_per_class[1].dice));
}

TEST(Plan, ValidationAndPredictStartFromTheSameSlidingWindow) {
  const Plan plan = resolved(unusual_plan());
  const Validator validator(ValidationCases{}, plan, torch::kCPU, Precision::Float32);
  const InferenceSettings v = validator.settings();
  const InferenceSettings p = predict_settings(plan, PredictOptions{});
  EXPECT_EQ(v.window, p.window);
  EXPECT_EQ(v.overlap, p.overlap);
  EXPECT_EQ(v.blending, p.blending);
  EXPECT_EQ(v.mirror_axes, p.mirror_axes);
  EXPECT_EQ(v.window_growth, p.window_growth);
  // ...and those are the plan's, not some default (the plan above differs from every default).
  EXPECT_EQ(*p.window, (std::array<int64_t, 3>{64, 64, 64}));
  EXPECT_EQ(p.overlap, 0.3);
  EXPECT_EQ(p.blending, Blending::Constant);
  EXPECT_EQ(p.mirror_axes, (std::vector<int64_t>{0}));
  EXPECT_EQ(p.window_growth, 2.5);
  // Hand-counted: along 200 rows at overlap 0.3, 2 windows of 128 send 256 rows through the network,
  // fewer than any other length up to 160 (2.5 x 64^3 voxels); 64 alone would take 5 windows.
  EXPECT_EQ(fitted_window({200, 64, 64}, p), (std::array<int64_t, 3>{128, 64, 64}));
  // The user's overrides win in predict.
  PredictOptions o;
  o.overrides.blending = Blending::Gaussian;
  o.overrides.overlap = 0.5;
  EXPECT_EQ(predict_settings(plan, o).blending, Blending::Gaussian);
  EXPECT_EQ(predict_settings(plan, o).overlap, 0.5);
  // A window given by the user is that window exactly, unless a growth is given too.
  o.overrides.window = std::array<int64_t, 3>{32, 32, 16};
  EXPECT_EQ(predict_settings(plan, o).window_growth, 1.0);
  o.overrides.window_growth = 4;
  EXPECT_EQ(predict_settings(plan, o).window_growth, 4.0);
  // --fast: overlap 0 and no mirroring, under what the user set explicitly.
  PredictOptions fast;
  fast.overrides = merge(fast_inference(), InferenceOverrides{});
  InferenceSettings f = predict_settings(plan, fast);
  EXPECT_EQ(f.overlap, 0.0);
  EXPECT_TRUE(f.mirror_axes.empty());
  EXPECT_EQ(f.window, p.window);
  EXPECT_EQ(f.window_growth, p.window_growth);
  InferenceOverrides user;
  user.overlap = 0.1;
  fast.overrides = merge(fast_inference(), user);
  f = predict_settings(plan, fast);
  EXPECT_EQ(f.overlap, 0.1);
  EXPECT_TRUE(f.mirror_axes.empty());
}

// Settings are checked before any case is read: a dataset whose every image is corrupt proves it,
// since reading it would fail with another message.
TEST(Plan, AMisspeltOrOutOfRangeSettingFailsBeforeAnyCaseIsRead) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.file("data/imagesTr"));
  std::filesystem::create_directories(dir.file("data/labelsTr"));
  for (const char* name : {"a", "b", "c"}) {
    std::ofstream(dir.file(std::string("data/imagesTr/") + name + "_0000.nii.gz")) << "not a NIfTI file";
    std::ofstream(dir.file(std::string("data/labelsTr/") + name + ".nii.gz")) << "not a NIfTI file";
  }
  const std::string base = "train -d " + dir.file("data") + " -o " + dir.file("run") + " ";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--schedule cosinee", "unknown learning-rate schedule 'cosinee', expected one of: none, cosine, poly"},
      {"--arch unet", "unknown architecture 'unet'"},
      {"--precision fp16", "unknown precision 'fp16'"},
      {"--intensity hu", "unknown intensity normalisation 'hu'"},
      {"--blending mean", "unknown blending 'mean'"},
      {"--conv-impl winograd", "unknown convolution implementation 'winograd'"},
      {"--reparam lora", "unknown re-parameterization 'lora'"},
      {"--val-every 0", "--val-every 0 is out of range"},
      {"--patch 40", "plan field 'patch': 40 is out of range"},
      {"--overlap 1", "plan field 'inference.overlap'"},
      {"--warmup 100 --iterations 10", "--warmup 100 is out of range"},
      // Options that do not apply to the architecture, the intensity or the rank count.
      {"--arch resenc --hidden 64", "--hidden does not apply to --arch resenc"},
      {"--arch resenc --bfr-alpha 0.5", "--bfr-alpha does not apply to --arch resenc"},
      {"--arch resenc --kernel-sizes 7", "--kernel-sizes does not apply to --arch resenc"},
      {"--intensity zscore --ct-window -100 200", "--ct-window applies to --intensity ct, but the intensity normalisation is zscore"},
      {"--dist-backend glooo", "--dist-backend 'glooo' is not one of: gloo, nccl"},
      {"--crops 0", "--crops 0 is out of range"},
  };
  for (const auto& [arguments, expected] : cases) {
    const auto r = test::run_repux(base + arguments);
    EXPECT_EQ(r.exit_code, 1) << arguments << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << arguments << "\n" << r.output;
    EXPECT_EQ(r.output.find("NIfTI"), std::string::npos) << arguments << ": a case was read first\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("run"))) << arguments;
  }
  // LOCAL_WORLD_SIZE is read strictly by every command, as by the launcher.
  const auto bad_env = test::run_command("LOCAL_WORLD_SIZE=two " + std::string(REPUX_BINARY) + " " + base + "2>&1 </dev/null");
  EXPECT_EQ(bad_env.exit_code, 2) << bad_env.output;
  EXPECT_NE(bad_env.output.find("environment variable LOCAL_WORLD_SIZE='two' is not an integer >= 1"), std::string::npos) << bad_env.output;
  // Control: with good settings the corrupt cases are what fails.
  const auto r = test::run_repux(base + "--iterations 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("problem(s) in the dataset"), std::string::npos) << r.output;
}

TEST(Plan, LearningRateScheduleMatchesHandComputedValues) {
  LrSchedule s{Schedule::Cosine, 1.0, 10, 110};
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);    // warm-up: (0 + 1) / 10
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);   // cosine starts at the base
  EXPECT_NEAR(s.at(60), 0.5, 1e-12); // half way through the 100 cosine iterations
  s.kind = Schedule::Poly;
  EXPECT_NEAR(s.at(60), std::pow(0.5, 0.9), 1e-12);
  s.kind = Schedule::None;
  EXPECT_DOUBLE_EQ(s.at(60), 1.0);
}

TEST(Plan, VolumeFilesAreChosenByTheirName) {
  EXPECT_TRUE(is_volume_path("a/b.nii"));
  EXPECT_TRUE(is_volume_path("b.nii.gz"));
  EXPECT_FALSE(is_volume_path("b.nrrd"));
  EXPECT_EQ(volume_stem("case_01.nii.gz"), "case_01");
  EXPECT_EQ(volume_suffix("case_01.nii"), ".nii");
  const std::string message = error_of([] { read_volume("scan.nrrd"); });
  EXPECT_NE(message.find("scan.nrrd"), std::string::npos) << message;
  EXPECT_NE(message.find(".nii.gz"), std::string::npos) << message;
  test::TempDir dir;
  for (const char* name : {"b.nii.gz", "a.nii", ".hidden.nii", "notes.txt"}) std::ofstream(dir.file(name)) << "x";
  EXPECT_EQ(list_volume_files(dir.path().string()), (std::vector<std::string>{"a.nii", "b.nii.gz"}));
}

// Reliability round 3, defect 7: a plan with unknown keys or misplaced fields (network.dims at the top
// level) was accepted and the fields silently ignored; a plan file's "training": "fast" printed
// nlohmann's bare message without the file.
TEST(Plan, UnknownOrMisplacedKeysAreRefusedNamingTheKeyAndTheFile) {
  const nlohmann::json good = to_json(unusual_plan());
  const std::vector<std::tuple<std::string, nlohmann::json, std::string>> cases{
      {"/dims", {8, 16, 32, 64}, "unknown key 'dims' in the plan;"},
      {"/network/dim", {8, 16, 32, 64}, "unknown key 'dim' in the network config"},
      {"/preprocessing/window", {-100, 200}, "unknown key 'window' in the preprocessing recipe"},
      {"/inference/overlapp", 0.5, "unknown key 'overlapp' in the inference settings"},
      {"/postprocessing/connect", "faces", "unknown key 'connect' in the post-processing"},
      {"/network/dims", "wide", "field 'dims'"},
  };
  for (const auto& [pointer, value, expected] : cases) {
    nlohmann::json bad = good;
    bad[nlohmann::json::json_pointer(pointer)] = value;
    SCOPED_TRACE(pointer + " = " + value.dump());
    const std::string message = error_of([&] { plan_from_json(bad); });
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
  }
  // Through the command line, before any data is read: the file and the field are named.
  test::TempDir dir;
  const std::vector<std::pair<nlohmann::json, std::string>> files{
      {{{"training", "fast"}}, "field 'training': expected a JSON object, got string"},
      {{{"training", {{"crops_per_case", "many"}}}}, "field 'crops_per_case'"},
      {{{"training", {{"crop_per_case", 4}}}}, "unknown key 'crop_per_case' in field 'training'"},
      {{{"dims", {8, 16, 32, 64}}}, "unknown key 'dims' in the plan"},
  };
  for (const auto& [change, expected] : files) {
    nlohmann::json plan = good;
    plan.update(change);
    test::write_file(dir.file("plan.json"), plan.dump());
    const auto r = test::run_repux("train -d " + dir.file("no-data") + " -o " + dir.file("run") + " --plan " + dir.file("plan.json"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(r.output.rfind("repux: error: " + dir.file("plan.json") + ": ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}
