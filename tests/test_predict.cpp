// `repux predict` as a user runs it: output geometry equals the input's, and bad inputs fail cleanly
// without stopping the other cases of a folder.
#include "repux/data/preprocess.h"
#include "repux/data/synth.h"
#include "repux/io/nifti.h"
#include "repux/model/model_file.h"
#include "cpu_features.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace repux;
namespace fs = std::filesystem;

namespace {

// A tiny untrained model with a resampling recipe, so every geometry step of predict is exercised.
std::string write_tiny_model(const repux::test::TempDir& dir) {
  NetworkConfig c;
  c.out_channels = 4;
  c.dims = {4, 8, 16, 32};
  c.depths = {1, 1, 1, 1};
  c.kernel_sizes = {5};
  c.hidden_size = 16;
  torch::manual_seed(0);
  auto net = create_network(c);
  ModelInfo info;
  info.plan.network = c;
  info.plan.class_names = synth_class_names();
  PreprocessRecipe recipe;
  recipe.spacing = std::array<double, 3>{3.0, 3.0, 3.0};
  info.plan.preprocessing = recipe;
  info.plan.patch = {32, 32, 32};
  const std::string path = dir.file("tiny.repux");
  save_model(net, info, path);
  return path;
}

}  // namespace

TEST(Predict, OutputHasTheInputGeometryAndAnIntegerType) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  SynthOptions so;
  so.min_size = 30;
  so.max_size = 44;
  auto c = make_synthetic_case(42, so);
  NiftiDetails codes;
  codes.qform_code = 1;
  codes.sform_code = 2;
  c.image.format_details = codes;
  write_nifti(c.image, dir.file("ct.nii.gz"));
  auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file("seg.nii.gz") +
                                  " --gaussian --overlap 0.25");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume in = read_nifti(dir.file("ct.nii.gz"));
  const Volume out = read_nifti(dir.file("seg.nii.gz"));
  EXPECT_EQ(out.spatial_shape(), in.spatial_shape());
  EXPECT_TRUE(torch::equal(out.affine, in.affine)) << out.affine << in.affine;
  EXPECT_EQ(nifti_details(out)->qform_code, 1);
  EXPECT_EQ(nifti_details(out)->sform_code, 2);
  EXPECT_EQ(out.sample_type, SampleType::UInt8);
  EXPECT_LE(out.data.max().item<double>(), 3.0);
  EXPECT_NE(out.description.find("1=liver"), std::string::npos) << out.description;
}

TEST(Predict, BadInputsFailCleanlyAndOtherCasesStillRun) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  fs::create_directories(dir.file("in"));
  SynthOptions so;
  so.min_size = 30;
  so.max_size = 40;
  write_nifti(make_synthetic_case(1, so).image, dir.file("in/a_good.nii.gz"));
  fs::copy_file(repux::test::data_path("nifti/bad_4d_channels.nii.gz"), dir.file("in/b_channels.nii.gz"));
  write_nifti(make_synthetic_case(2, so).image, dir.file("in/c_good.nii.gz"));

  auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in") + " -o " + dir.file("out"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("b_channels.nii.gz: the image has 3 channel(s) but the model expects 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 of 3 case(s) failed"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir.file("out/a_good.nii.gz")));
  EXPECT_TRUE(fs::exists(dir.file("out/c_good.nii.gz")));
  EXPECT_FALSE(fs::exists(dir.file("out/b_channels.nii.gz")));

  r = repux::test::run_repux("predict -m " + repux::test::data_path("nifti/las_int8.nii") + " -i " + dir.file("in/a_good.nii.gz") +
                             " -o " + dir.file("x.nii.gz"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("not a repux model file"), std::string::npos) << r.output;

  r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in/a_good.nii.gz") + " -o " + dir.file("no/such/dir/seg.nii.gz"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;  // refused before any work
}

// `predict --precision bf16` against float32 on the same case: the written probabilities agree to bf16's
// precision, and a bad precision name is refused before anything is written.
TEST(Predict, Bf16ProbabilitiesTrackFloat32) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  SynthOptions so;
  so.min_size = 30;
  so.max_size = 36;
  write_nifti(make_synthetic_case(7, so).image, dir.file("ct.nii.gz"));
  for (const std::string precision : {"fp32", "bf16"}) {
    const auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file(precision + ".nii.gz") +
                                          " --save-probabilities --precision " + precision);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const Volume p32 = read_nifti(dir.file("fp32_probabilities.nii.gz"), allowing_channels());
  const Volume p16 = read_nifti(dir.file("bf16_probabilities.nii.gz"), allowing_channels());
  ASSERT_EQ(p32.data.sizes(), p16.data.sizes());
  const double worst = (p32.data - p16.data).abs().max().item<double>();
  if (repux::test::cpu_has_native_bf16_path()) EXPECT_LT(worst, 0.05);
  EXPECT_GT(worst, 0.0);  // bf16 really ran
  const auto bad = repux::test::run_repux("predict -m " + model + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file("x.nii.gz") +
                                          " --precision fp16");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("precision 'fp16'"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir.file("x.nii.gz")));
}
