// Predicting with imported nnU-Net models as nnU-Net does, against nnU-Net's own code
// (tools/make_nnunet_prediction_fixtures.py): its predictor's label maps and probabilities for the same
// files, and its building blocks (resampling, hole filling, Gaussian, window steps) one by one.
#include "repux/data/dataset.h"
#include "repux/data/nnunet_preprocess.h"
#include "repux/data/nnunet_resampling.h"
#include "repux/infer/postprocess.h"
#include "repux/infer/predictor.h"
#include "repux/infer/sliding_window.h"
#include "repux/io/json_file.h"
#include "repux/io/npy.h"
#include "repux/io/volume_file.h"
#include "repux/model/nnunet_import.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace repux {
namespace {

namespace fs = std::filesystem;
using repux::test::data_path;
using repux::test::run_repux;

std::string pieces(const std::string& name) { return data_path("nnunet_predict/pieces/" + name); }
std::string case_path(const std::string& name, const std::string& part) { return data_path("nnunet_predict/" + name + "/" + part); }

double max_abs_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

TEST(NnunetPipeline, ResamplingEqualsNnunets) {
  const auto input = read_npy(pieces("resample_input.npy"));
  const auto spec = read_json_file(pieces("pieces.json"));
  for (const auto& r : spec["resamplings"]) {
    NnunetResampling how;
    how.order = r["order"].get<int>();
    how.order_z = r["order_z"].get<int>();
    const auto current = r["current"].get<std::array<double, 3>>(), wanted = r["new"].get<std::array<double, 3>>();
    const auto shape = nnunet_new_shape({input.size(1), input.size(2), input.size(3)}, current, wanted);
    EXPECT_EQ(shape, (r["shape"].get<std::array<int64_t, 3>>())) << r["name"];
    const auto expected = read_npy(pieces("resample_" + r["name"].get<std::string>() + ".npy"));
    const auto got = nnunet_resample(input, shape, current, wanted, how);
    ASSERT_EQ(got.sizes(), expected.sizes()) << r["name"];
    EXPECT_LT(max_abs_difference(got, expected), 1e-5) << r["name"];
  }
}

TEST(NnunetPipeline, SeparateAxisFollowsNnunetsRule) {
  const NnunetResampling how;
  EXPECT_EQ(nnunet_separate_axis({3.2, 0.8, 0.8}, {2.0, 1.0, 1.0}, how), 0);
  EXPECT_EQ(nnunet_separate_axis({1.0, 1.0, 1.0}, {1.0, 4.0, 1.0}, how), 1);  // the new spacing is anisotropic
  EXPECT_EQ(nnunet_separate_axis({2.4, 0.8, 0.9}, {1, 1, 1}, how), std::nullopt);  // 3.0 is not above 3
  EXPECT_EQ(nnunet_separate_axis({4.0, 4.0, 1.0}, {1, 1, 1}, how), std::nullopt);  // two axes share the largest spacing
  NnunetResampling forced;
  forced.force_separate_z = false;
  EXPECT_EQ(nnunet_separate_axis({3.2, 0.8, 0.8}, {2.0, 1.0, 1.0}, forced), std::nullopt);
}

TEST(NnunetPipeline, HoleFillingEqualsScipys) {
  const auto mask = read_npy(pieces("mask.npy")).to(torch::kBool);
  const auto expected = read_npy(pieces("mask_filled.npy")).to(torch::kBool);
  const auto filled = fill_holes(mask);
  EXPECT_TRUE(torch::equal(filled, expected));
  EXPECT_FALSE(torch::equal(mask, expected));  // the fixture has a hole to fill
}

TEST(NnunetPipeline, GaussianAndWindowStepsEqualNnunets) {
  const auto expected = read_npy(pieces("gaussian_8_24_20.npy"));
  EXPECT_EQ(max_abs_difference(nnunet_gaussian_importance_map({8, 24, 20}), expected), 0.0);
  for (const auto& s : read_json_file(pieces("pieces.json"))["steps"]) {
    EXPECT_EQ(window_starts(s["size"].get<int64_t>(), s["tile"].get<int64_t>(), 1.0 - s["step"].get<double>()),
              s["starts"].get<std::vector<int64_t>>())
        << "size " << s["size"] << " tile " << s["tile"];
  }
}

struct Compared {
  double equal_fraction, max_probability_difference, max_difference_where_labels_differ;
};

// repux's prediction of a case against nnU-Net's own (labels and probabilities on the image's grid).
Compared compare_with_nnunet(const std::string& name) {
  NnunetImportOptions import;
  import.folder = case_path(name, "nnUNetTrainer__nnUNetPlans__3d_fullres");
  import.fold = "0";
  import.checkpoint = "checkpoint_final.pth";
  LoadedModel model = import_nnunet_model(import);
  const auto cases = cases_in_folder(case_path(name, "input"), ".nii.gz", model.info.plan.network.in_channels);
  EXPECT_EQ(cases.size(), 1u);
  const Volume image = read_case_image(cases.at(0));
  PredictOptions options;
  options.keep_probabilities = true;
  options.postprocess = false;  // nnU-Net's predictor does not post-process either
  const Prediction p = predict_volume(model, image, options);
  const auto expected_labels = read_volume(case_path(name, "nnunet/case.nii.gz")).data.round().to(torch::kInt64);
  const auto expected_probabilities = read_npy(case_path(name, "nnunet/probabilities.npy"));
  const auto labels = p.labels.data.round().to(torch::kInt64);
  EXPECT_EQ(labels.sizes(), expected_labels.sizes());
  EXPECT_EQ(p.probabilities.data.sizes(), expected_probabilities.sizes());
  const auto differ = labels != expected_labels;
  Compared c;
  c.equal_fraction = 1.0 - differ.to(torch::kFloat64).mean().item<double>();
  const auto d = (p.probabilities.data.to(torch::kFloat64) - expected_probabilities.to(torch::kFloat64)).abs();
  c.max_probability_difference = d.max().item<double>();
  c.max_difference_where_labels_differ = differ.any().item<bool>() ? d.amax(0).masked_select(differ).max().item<double>() : 0.0;
  return c;
}

TEST(NnunetPredict, AnisotropicCtWithACropEqualsNnunetsPredictor) {
  const auto c = compare_with_nnunet("ct_aniso");
  RecordProperty("equal_fraction", std::to_string(c.equal_fraction));
  EXPECT_GE(c.equal_fraction, 0.999);
  EXPECT_LT(c.max_difference_where_labels_differ, 1e-3);
  EXPECT_LT(c.max_probability_difference, 5e-3);
}

TEST(NnunetPredict, MaskedZScoreTransposedMrEqualsNnunetsPredictor) {
  const auto c = compare_with_nnunet("mr_masked");
  EXPECT_GE(c.equal_fraction, 0.999);
  EXPECT_LT(c.max_difference_where_labels_differ, 1e-3);
  EXPECT_LT(c.max_probability_difference, 5e-3);
}

// nnU-Net's postprocessing.pkl (found in crossval_results_folds_0/, one of its functions not nnU-Net's):
// its steps applied by repux to nnU-Net's prediction give nnU-Net's own post-processed labels.
TEST(NnunetPostprocessing, PickleStepsEqualNnunetsOwnPostprocessing) {
  NnunetImportOptions import;
  import.folder = case_path("ct_aniso", "nnUNetTrainer__nnUNetPlans__3d_fullres");
  LoadedModel model = import_nnunet_model(import);
  const auto& pp = model.info.plan.postprocessing;
  ASSERT_EQ(pp.keep_largest.size(), 2u);
  EXPECT_EQ(pp.keep_largest[0].labels, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(pp.keep_largest[1].labels, (std::vector<int64_t>{2}));
  const auto skipped = model.info.provenance["postprocessing"]["skipped"];
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].get<std::string>().find("numpy.copy"), std::string::npos) << skipped.dump();

  const auto raw = read_volume(case_path("ct_aniso", "nnunet/case.nii.gz")).data.round().to(torch::kInt64);
  const auto expected = read_volume(case_path("ct_aniso", "nnunet/case_postprocessed.nii.gz")).data.round().to(torch::kInt64);
  ASSERT_FALSE(torch::equal(raw, expected));  // the fixture's post-processing changes something
  EXPECT_TRUE(torch::equal(apply_postprocessing(raw, pp), expected));

  const Volume image = read_volume(case_path("ct_aniso", "input/case_0000.nii.gz"));
  const auto labels = predict_volume(model, image, PredictOptions{}).labels.data.round().to(torch::kInt64);
  EXPECT_GE(1.0 - (labels != expected).to(torch::kFloat64).mean().item<double>(), 0.999);

  test::TempDir dir;  // through a model file, as `repux import` writes it
  const std::string file = (dir.path() / "ct.repux").string();
  const auto imported = run_repux("import " + import.folder + " -o " + file);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_NE(imported.output.find("warning: "), std::string::npos) << imported.output;
  EXPECT_NE(imported.output.find("numpy.copy"), std::string::npos) << imported.output;
  EXPECT_EQ(load_model(file).info.plan.postprocessing.keep_largest, pp.keep_largest);
}

// As a user runs it: import, then predict a folder of nnU-Net-named channel files.
TEST(NnunetPredict, ImportThenPredictFromTheCommandLine) {
  test::TempDir dir;
  const std::string model = (dir.path() / "mr.repux").string(), out = (dir.path() / "out").string();
  const auto imported = run_repux("import " + case_path("mr_masked", "nnUNetTrainer__nnUNetPlans__3d_fullres") + " -o " + model);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  const auto predicted = run_repux("predict -m " + model + " -i " + case_path("mr_masked", "input") + " -o " + out + " --save-probabilities");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const auto labels = read_volume(out + "/case.nii.gz").data.round().to(torch::kInt64);
  const auto expected = read_volume(case_path("mr_masked", "nnunet/case.nii.gz")).data.round().to(torch::kInt64);
  ASSERT_EQ(labels.sizes(), expected.sizes());
  EXPECT_GE(1.0 - (labels != expected).to(torch::kFloat64).mean().item<double>(), 0.999);
  EXPECT_TRUE(fs::exists(out + "/case_probabilities.nii.gz"));
}

// A TotalSegmentator-shaped folder of two tasks: imported as one model, predicted into one map whose
// classes are both parts' (against nnU-Net's predictions of each part, combined as TotalSegmentator does).
TEST(NnunetPredict, TotalSegmentatorPartsPredictOneCombinedMap) {
  const std::string folder = data_path("nnunet_predict/totalseg");
  const auto parts = nnunet_part_folders(folder);
  ASSERT_EQ(parts.size(), 2u);
  NnunetImportOptions o;
  LoadedModel model = import_nnunet_parts(parts, o);
  const auto names = read_json_file(data_path("nnunet_predict/totalseg/nnunet/combined_classes.json")).get<std::vector<std::string>>();
  EXPECT_EQ(model.info.plan.class_names, names);
  const Volume image = read_volume(case_path("ct_aniso", "input/case_0000.nii.gz"));
  const auto expected = read_volume(data_path("nnunet_predict/totalseg/nnunet/combined.nii.gz")).data.round().to(torch::kInt64);
  PredictOptions options;
  const auto labels = predict_volume(model, image, options).labels;
  EXPECT_EQ(labels.label_names, names);
  const auto got = labels.data.round().to(torch::kInt64);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_GE(1.0 - (got != expected).to(torch::kFloat64).mean().item<double>(), 0.999);
  EXPECT_GT((got > 3).sum().item<int64_t>(), 0);  // the second part's classes are there, after the first's

  options.classes_subset = {"liver", "vertebrae_L2"};
  const auto subset = predict_volume(model, image, options).labels.data.round().to(torch::kInt64);
  const auto wanted = (expected == 3) | (expected == 5);
  EXPECT_GE(1.0 - (subset != torch::where(wanted, expected, torch::zeros_like(expected))).to(torch::kFloat64).mean().item<double>(), 0.999);
  options.classes_subset = {"brain"};
  EXPECT_THROW(predict_volume(model, image, options), Error);
}

// The same from the command line, through one model file.
TEST(NnunetPredict, TotalSegmentatorFolderImportsIntoOneModelFile) {
  test::TempDir dir;
  const std::string model = (dir.path() / "total.repux").string(), out = (dir.path() / "liver.nii.gz").string();
  const auto imported = run_repux("import " + data_path("nnunet_predict/totalseg") + " -o " + model);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_NE(imported.output.find("2 nnU-Net parts"), std::string::npos) << imported.output;
  const auto predicted = run_repux("predict -m " + model + " -i " + case_path("ct_aniso", "input/case_0000.nii.gz") + " -o " + out +
                                   " --classes-subset liver");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const auto got = read_volume(out).data.round().to(torch::kInt64);
  // Only the first part has the liver, so only it runs (the second part's labels do not paint over it).
  const auto expected = read_volume(data_path("nnunet_predict/totalseg/nnunet/part1/case.nii.gz")).data.round().to(torch::kInt64);
  const auto liver = torch::where(expected == 3, expected, torch::zeros_like(expected));
  EXPECT_GE(1.0 - (got != liver).to(torch::kFloat64).mean().item<double>(), 0.999);
  const auto info = run_repux("info " + model);
  EXPECT_NE(info.output.find("vertebrae_L1"), std::string::npos) << info.output;
}

}  // namespace
}  // namespace repux
