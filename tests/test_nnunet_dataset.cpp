// nnU-Net v2 datasets as a researcher keeps them: the raw layout with a v2 dataset.json (channels,
// labels, ignore, regions, file_ending, numTraining), nnU-Net's folds (against scikit-learn's KFold,
// fixtures by tools/make_split_fixtures.py), and the whole workflow from the command line: check-dataset,
// plan, train --fold 0 (its run folder), predict of imagesTs with the names evaluate pairs.
#include "repux/data/dataset.h"
#include "repux/data/splits.h"
#include "repux/data/synth.h"
#include "repux/io/volume_file.h"
#include "repux/train/loss.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace repux;
using repux::test::read_json;
using repux::test::run_repux;
namespace fs = std::filesystem;

namespace {

// DatasetXXX_Name/ in nnU-Net's v2 layout: `cases` training cases of two channels (CT and a second
// image of the same grid), labels 0..3, imagesTs/ with `test_cases` more (and their labels in labelsTs/,
// which nnU-Net does not have, for the test to score predictions with).
std::string write_v2_dataset(const repux::test::TempDir& dir, int cases, int test_cases, const std::string& extra_json = "") {
  const fs::path root = dir.path() / "Dataset042_Phantoms";
  for (const char* sub : {"imagesTr", "labelsTr", "imagesTs", "labelsTs"}) fs::create_directories(root / sub);
  SynthOptions o;
  o.min_size = 24;
  o.max_size = 30;
  for (int i = 0; i < cases + test_cases; ++i) {
    const SynthCase c = make_synthetic_case(100 + i, o);
    const bool test = i >= cases;
    const std::string id = fmt::format("phantom_{:03d}", i);
    Volume second = c.image;
    second.data = (c.image.data.to(torch::kFloat32) * 0.5 + 100).to(torch::kInt16);
    write_volume(c.image, (root / (test ? "imagesTs" : "imagesTr") / (id + "_0000.nii.gz")).string());
    write_volume(second, (root / (test ? "imagesTs" : "imagesTr") / (id + "_0001.nii.gz")).string());
    write_volume(c.label, (root / (test ? "labelsTs" : "labelsTr") / (id + ".nii.gz")).string());
  }
  std::ofstream(root / "dataset.json") << R"({"channel_names": {"0": "CT", "1": "CT"},
    "labels": {"background": 0, "liver": 1, "spleen": 2, "kidney": 3)" << extra_json << R"(},
    "numTraining": )" << cases << R"(, "file_ending": ".nii.gz", "name": "Phantoms"})";
  return root.string();
}

const std::string kTinyNetwork = " --dims 4 8 16 32 --depths 1 1 1 1 --hidden 16 --kernel-sizes 3 --patch 32 --spacing 4 --crops 1 --workers 1";

}  // namespace

TEST(NnunetDataset, ReadsAV2DatasetJsonWithTwoChannels) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 2);
  const Dataset d = load_dataset(root);
  ASSERT_EQ(d.training.size(), 5u);
  EXPECT_EQ(d.test.size(), 2u);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"background", "liver", "spleen", "kidney"}));
  EXPECT_EQ(d.channel_names, (std::vector<std::string>{"CT", "CT"}));
  EXPECT_EQ(d.file_ending, ".nii.gz");
  EXPECT_EQ(case_identifier(d.training[3]), "phantom_003");
  ASSERT_EQ(d.training[3].more_channels.size(), 1u);
  EXPECT_EQ(fs::path(d.training[3].more_channels[0]).filename(), "phantom_003_0001.nii.gz");
  EXPECT_EQ(fs::path(d.training[3].label).filename(), "phantom_003.nii.gz");
  EXPECT_EQ(read_case_image(d.training[0]).channels(), 2);
  EXPECT_TRUE(check_dataset(d, dataset_classes(d, {}, root)).empty());
  EXPECT_EQ(dataset_classes(d, {}, root), 4);
  EXPECT_NE(repux::test::error_of([&] { dataset_classes(d, 3, root); }).find("contradicts"), std::string::npos);
  // The same dataset.json read as a file, and the old dialect without it still works.
  EXPECT_EQ(load_dataset(root + "/dataset.json").training.size(), 5u);
}

TEST(NnunetDataset, NamesWhatNumTrainingAndTheChannelsMiss) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 0);
  fs::remove(root + "/labelsTr/phantom_002.nii.gz");
  std::string error = repux::test::error_of([&] { load_dataset(root); });
  EXPECT_NE(error.find("numTraining is 5"), std::string::npos) << error;
  EXPECT_NE(error.find("phantom_002"), std::string::npos) << error;

  repux::test::TempDir dir2;
  const std::string other = write_v2_dataset(dir2, 4, 0);
  fs::remove(other + "/imagesTr/phantom_001_0001.nii.gz");
  error = repux::test::error_of([&] { load_dataset(other); });
  EXPECT_NE(error.find("phantom_001_0001.nii.gz"), std::string::npos) << error;
}

TEST(NnunetDataset, ReadsIgnoreAndRegionLabels) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 0, R"(, "ignore": 4)");
  const Dataset d = load_dataset(root);
  ASSERT_TRUE(d.ignore_label.has_value());
  EXPECT_EQ(*d.ignore_label, 4);
  EXPECT_EQ(d.class_names.size(), 4u);  // "ignore" is no class

  std::ofstream(root + "/dataset.json") << R"({"channel_names": {"0": "T2", "1": "ADC"}, "numTraining": 5, "file_ending": ".nii.gz",
    "labels": {"background": 0, "organs": [1, 2, 3], "spleen_or_kidney": [2, 3], "kidney": 3}, "regions_class_order": [1, 2, 3]})";
  const Dataset r = load_dataset(root);
  ASSERT_EQ(r.regions.size(), 2u);
  EXPECT_EQ(r.regions[0].values, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.regions_class_order, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(intensity_for_channel(r.channel_names[1]), Intensity::ZScore);
  EXPECT_EQ(intensity_for_channel("ct"), Intensity::Ct);
  EXPECT_EQ(intensity_for_channel("noNorm"), Intensity::None);
  EXPECT_EQ(intensity_for_channel("rescale_to_0_1"), Intensity::Rescale);
}

TEST(NnunetSplits, EqualScikitLearnsKFoldForSeveralCaseCounts) {
  const auto fixtures = read_json(repux::test::data_path("splits/sklearn_kfold.json"));
  ASSERT_EQ(fixtures["cases"].size(), 4u);
  for (const auto& fixture : fixtures["cases"]) {
    const auto ids = fixture["identifiers"].get<std::vector<std::string>>();
    SCOPED_TRACE(ids.size());
    EXPECT_EQ(to_json(make_splits(ids)), fixture["splits"]);
  }
}

TEST(NnunetSplits, AFoldOfAFileTakesItsCases) {
  repux::test::TempDir dir;
  const Dataset d = load_dataset(write_v2_dataset(dir, 5, 0));
  const Splits splits = make_splits({"phantom_000", "phantom_001", "phantom_002", "phantom_003", "phantom_004"});
  write_splits(splits, dir.file("splits_final.json"));
  const Splits read = read_splits(dir.file("splits_final.json"));
  const Dataset fold = dataset_for_fold(d, read, 2, "splits");
  ASSERT_EQ(fold.validation.size(), 1u);
  EXPECT_EQ(case_identifier(fold.validation[0]), splits[2].val[0]);
  EXPECT_EQ(fold.training.size(), 4u);
  EXPECT_EQ(dataset_for_fold(d, read, kAllFolds, "splits").training.size(), 5u);
  const std::string error = repux::test::error_of([&] { dataset_for_fold(d, {{{"phantom_000"}, {"nobody"}}}, 0, "splits"); });
  EXPECT_NE(error.find("nobody"), std::string::npos) << error;
}

// The README's five commands on a v2 dataset, as a user runs them: check-dataset, plan, train --fold 0,
// predict imagesTs/, evaluate.
TEST(NnunetWorkflow, CheckPlanTrainFoldPredictAndEvaluate) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 2);
  auto r = run_repux("check-dataset " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 classes"), std::string::npos) << r.output;
  r = run_repux("plan " + root + " -o " + dir.file("plan.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = read_json(dir.file("plan.json"));
  EXPECT_EQ(plan["network"]["in_channels"], 2);
  EXPECT_EQ(plan["network"]["out_channels"], 4);
  EXPECT_EQ(plan["preprocessing"]["intensity"], "ct");

  const std::string run = dir.file("run/fold_0");
  r = run_repux("train -d " + root + " --plan " + dir.file("plan.json") + " --fold 0 -o " + run + kTinyNetwork + " --iterations 2 --val-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* file : {"plan.json", "dataset.json", "split.json", "log.txt", "last.repux", "metrics.csv", "training.png", "report.html",
                           "validation/summary.json", "preprocessed/splits_final.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(run) / file)) << file;
  }
  // nnU-Net's fold 0 of these identifiers, held out and predicted under their own names.
  const Splits nnunet = make_splits({"phantom_000", "phantom_001", "phantom_002", "phantom_003", "phantom_004"});
  const auto split = read_json(run + "/split.json");
  EXPECT_EQ(split["val"].get<std::vector<std::string>>(), nnunet[0].val);
  EXPECT_EQ(split["train"].get<std::vector<std::string>>(), nnunet[0].train);
  EXPECT_EQ(to_json(read_splits(run + "/preprocessed/splits_final.json")), to_json(nnunet));
  EXPECT_TRUE(fs::exists(run + "/validation/" + nnunet[0].val[0] + ".nii.gz"));
  std::ifstream log(run + "/log.txt");
  const std::string logged((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("final validation"), std::string::npos) << logged;

  // summary.json's Dice is what `repux evaluate` finds on the same files.
  fs::create_directories(dir.path() / "gt");
  for (const auto& id : nnunet[0].val) fs::copy(root + "/labelsTr/" + id + ".nii.gz", dir.path() / "gt" / (id + ".nii.gz"));
  r = run_repux("evaluate --pred " + run + "/validation --gt " + dir.file("gt") + " --classes 4 -o " + dir.file("eval.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = read_json(run + "/validation/summary.json"), evaluated = read_json(dir.file("eval.json"));
  EXPECT_EQ(summary["mean"]["dice"], evaluated["mean"]["dice"]);
  EXPECT_EQ(summary["class_names"], (nlohmann::json{"liver", "spleen", "kidney"}));

  // imagesTs/ of two-channel cases: one output per case, named as evaluate pairs it with labelsTs/.
  r = run_repux("predict -m " + run + "/last.repux -i " + root + "/imagesTs -o " + dir.file("pred"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(list_volume_files(dir.file("pred")), (std::vector<std::string>{"phantom_005.nii.gz", "phantom_006.nii.gz"}));
  r = run_repux("evaluate --pred " + dir.file("pred") + " --gt " + root + "/labelsTs --classes 4 -o " + dir.file("test.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // A case missing a channel is refused, named.
  fs::remove(root + "/imagesTs/phantom_006_0001.nii.gz");
  r = run_repux("predict -m " + run + "/last.repux -i " + root + "/imagesTs -o " + dir.file("pred2"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("phantom_006_0001.nii.gz"), std::string::npos) << r.output;
}

// The ignore label counts in neither loss term: the logits at ignored voxels do not change the loss,
// and the loss is the one of the scored voxels alone (here: the half of the patch that is not ignored).
TEST(NnunetIgnoreLabel, LossLeavesIgnoredVoxelsOut) {
  using torch::indexing::Slice;
  torch::manual_seed(3);
  const int64_t k = 3;
  const auto logits = torch::randn({1, k, 4, 4, 8}, torch::kFloat64);
  auto target = torch::randint(0, k, {1, 4, 4, 8}, torch::kInt64);
  target.index_put_({Slice(), Slice(), Slice(), Slice(4, 8)}, k);
  const double loss = dice_ce_loss(logits, target, true).item<double>();
  auto changed = logits.clone();
  changed.index_put_({Slice(), Slice(), Slice(), Slice(), Slice(4, 8)}, torch::randn({1, k, 4, 4, 4}, torch::kFloat64) * 10);
  EXPECT_NEAR(dice_ce_loss(changed, target, true).item<double>(), loss, 1e-12);
  const auto kept_logits = logits.index({Slice(), Slice(), Slice(), Slice(), Slice(0, 4)}).contiguous();
  const auto kept_target = target.index({Slice(), Slice(), Slice(), Slice(0, 4)}).contiguous();
  EXPECT_NEAR(dice_ce_loss(kept_logits, kept_target).item<double>(), loss, 1e-6);
  EXPECT_THROW(dice_ce_loss(logits, target), Error);  // without an ignore label, K is out of range
}

// A dataset with an ignore label trains (the store keeps it, the loss and validation leave it out) and
// its run folder scores the validation cases without it.
TEST(NnunetIgnoreLabel, TrainsAndValidatesADatasetWithIgnoredVoxels) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 0, R"(, "ignore": 4)");
  for (const auto& name : list_volume_files(root + "/labelsTr")) {  // a slab of every label unannotated
    Volume label = read_volume(root + "/labelsTr/" + name);
    label.data.index_put_({torch::indexing::Slice(0, 3)}, 4);
    write_volume(label, root + "/labelsTr/" + name);
  }
  auto r = run_repux("check-dataset " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ignore label 4"), std::string::npos) << r.output;
  const std::string run = dir.file("run");
  r = run_repux("train -d " + root + " --fold 1 -o " + run + kTinyNetwork + " --iterations 2 --val-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json(run + "/preprocessed/store.json")["ignore_label"], 4);
  const auto summary = read_json(run + "/validation/summary.json");
  EXPECT_EQ(summary["class_names"].size(), 3u);
  EXPECT_EQ(read_json(run + "/split.json")["fold"], 1);
}

// Five folds trained from one store (preprocessed once; the first fold writes splits_final.json there,
// the others read it), gathered by cross-validate, and ensembled by predict -m RUNS/.
TEST(NnunetWorkflow, FiveFoldsFromOneStoreCrossValidatedAndEnsembled) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 1);
  auto r = run_repux("preprocess " + root + " -o " + dir.file("store") + " --spacing 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int k = 0; k < 5; ++k) {
    r = run_repux("train -d " + dir.file("store") + " --fold " + std::to_string(k) + " -o " + dir.file("runs/fold_" + std::to_string(k)) +
                  kTinyNetwork + " --in-channels 2 --iterations 1 --val-every 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  EXPECT_TRUE(fs::exists(dir.file("store/splits_final.json")));
  r = run_repux("cross-validate " + dir.file("runs") + " --gt " + root + "/labelsTr -o " + dir.file("cv"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = read_json(dir.file("cv/summary.json"));
  EXPECT_EQ(summary["cases"].size(), 5u);
  EXPECT_EQ(list_volume_files(dir.file("cv/predictions")).size(), 5u);
  // The same cases scored by evaluate give the same mean.
  r = run_repux("evaluate --pred " + dir.file("cv/predictions") + " --gt " + root + "/labelsTr --classes 4 -o " + dir.file("e.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(summary["mean"]["dice"], read_json(dir.file("e.json"))["mean"]["dice"]);

  r = run_repux("predict -m " + dir.file("runs") + " -i " + root + "/imagesTs -o " + dir.file("pred"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ensemble of 5 models"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir.file("pred/phantom_005.nii.gz")));
}
