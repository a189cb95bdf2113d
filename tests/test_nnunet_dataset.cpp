// nnU-Net v2 datasets as a researcher keeps them: the raw layout with a v2 dataset.json (channels,
// labels, ignore, regions, file_ending, numTraining), nnU-Net's folds (against scikit-learn's KFold,
// fixtures by tools/make_split_fixtures.py), and the whole workflow from the command line: check-dataset,
// plan, train --fold 0 (its run folder), predict of imagesTs with the names evaluate pairs.
#include "repux/data/dataset.h"
#include "repux/data/label_regions.h"
#include "repux/data/splits.h"
#include "repux/data/synth.h"
#include "repux/eval/metrics.h"
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

// nnU-Net's region-based labels over the phantoms' liver (1), spleen (2) and kidney (3), nested as
// BraTS's are: all organs, spleen or kidney, kidney; each painted back as the value of its innermost label.
void write_region_labels(const std::string& root, const std::string& channels = R"("channel_names": {"0": "CT", "1": "CT"})") {
  std::ofstream(root + "/dataset.json") << "{" << channels << R"(, "numTraining": 5, "file_ending": ".nii.gz",
    "labels": {"background": 0, "organs": [1, 2, 3], "spleen_or_kidney": [2, 3], "kidney": 3}, "regions_class_order": [1, 2, 3]})";
}

// `repux check-dataset` (its report saying `reported`) and `repux plan` of the dataset; the plan's JSON,
// null when either command failed.
nlohmann::json check_and_plan(const repux::test::TempDir& dir, const std::string& root, const std::string& reported) {
  auto r = run_repux("check-dataset " + root);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(reported), std::string::npos) << r.output;
  if (r.exit_code != 0) return nullptr;
  r = run_repux("plan " + root + " -o " + dir.file("plan.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0 ? read_json(dir.file("plan.json")) : nlohmann::json();
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

  write_region_labels(root, R"("channel_names": {"0": "T2", "1": "ADC"})");
  const Dataset r = load_dataset(root);
  // Every foreground label is a region, in the file's order (not the keys' alphabetical one).
  ASSERT_EQ(r.regions.size(), 3);
  EXPECT_EQ(r.regions.regions[0].name, "organs");
  EXPECT_EQ(r.regions.regions[0].values, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.regions.regions[1].name, "spleen_or_kidney");
  EXPECT_EQ(r.regions.regions[2].values, (std::vector<int64_t>{3}));
  EXPECT_EQ(r.regions.regions[2].paints, 3);
  EXPECT_EQ(r.class_names, (std::vector<std::string>{"background", "organs", "spleen_or_kidney", "kidney"}));
  EXPECT_EQ(dataset_classes(r, {}, root), 4);  // the label values the files hold
  std::ofstream(root + "/dataset.json") << R"({"channel_names": {"0": "CT"}, "numTraining": 5,
    "labels": {"background": 0, "organs": [1, 2, 3], "kidney": 3}, "regions_class_order": [1]})";
  const std::string error = repux::test::error_of([&] { load_dataset(root); });
  EXPECT_NE(error.find("regions_class_order"), std::string::npos) << error;
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
  const auto plan = check_and_plan(dir, root, "4 classes");
  ASSERT_FALSE(plan.is_null());
  repux::test::CommandResult r;
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

  // The run's report links each validation case to its viewer page; so does evaluate --report --images.
  auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string page = "validation/view/" + nnunet[0].val[0] + ".html";
  EXPECT_TRUE(fs::exists(run + "/" + page)) << page;
  EXPECT_NE(text(run + "/report.html").find("href='" + page + "'"), std::string::npos);
  r = run_repux("evaluate --pred " + dir.file("pred") + " --gt " + root + "/labelsTs --classes 4 -o " + dir.file("test2.json") +
                " --report " + dir.file("test.html") + " --images " + root + "/imagesTs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir.file("test_view/phantom_005.html")));
  EXPECT_TRUE(fs::exists(dir.file("test_view/niivue.umd.js")));
  const std::string report = text(dir.file("test.html"));
  EXPECT_NE(report.find("href='test_view/phantom_006.html'"), std::string::npos) << report;
  EXPECT_NE(report.find("class='sortable'"), std::string::npos);

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

// Regions of a label map painted back in regions_class_order give the label map again when the regions
// are nested (each label value the innermost region holding it), and a later region wins an overlap.
TEST(NnunetRegions, PaintingTheRegionsOfALabelMapGivesItBack) {
  torch::manual_seed(5);
  const auto label = torch::randint(0, 4, {6, 5, 7}, torch::kInt64);
  const LabelRegions nested{{{"organs", {1, 2, 3}, 1}, {"spleen_or_kidney", {2, 3}, 2}, {"kidney", {3}, 3}}};
  const auto masks = region_masks(label, nested);
  ASSERT_EQ(masks.sizes(), (std::vector<int64_t>{3, 6, 5, 7}));
  EXPECT_EQ(masks[1].sum().item<int64_t>(), ((label == 2).sum() + (label == 3).sum()).item<int64_t>());
  EXPECT_TRUE(torch::equal(paint_regions(masks, nested), label));
  // Overlapping, not nested: {1, 2} painted 1, then {2, 3} painted 3 over it.
  const LabelRegions overlapping{{{"a", {1, 2}, 1}, {"b", {2, 3}, 3}}};
  const auto painted = paint_regions(region_masks(label, overlapping), overlapping);
  const auto a = label.accessor<int64_t, 3>();
  const auto p = painted.accessor<int64_t, 3>();
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      for (int64_t k = 0; k < 7; ++k) EXPECT_EQ(p[i][j][k], a[i][j][k] == 0 ? 0 : a[i][j][k] == 1 ? 1 : 3);
    }
  }
}

// Dice + BCE per region against the formulas written out voxel by voxel in double precision (mean
// binary cross-entropy over the scored voxels; 1 - soft Dice per sample and region, averaged).
TEST(NnunetRegions, RegionLossIsBinaryCrossEntropyPlusSoftDice) {
  torch::manual_seed(9);
  const auto logits = torch::randn({2, 3, 3, 4, 5}, torch::kFloat64);
  const auto target = torch::randint(0, 2, {2, 3, 3, 4, 5}, torch::kInt64);
  const auto kept = torch::rand({2, 1, 3, 4, 5}, torch::kFloat64) > 0.3;
  for (const bool masked : {false, true}) {
    const auto l = logits.accessor<double, 5>();
    const auto t = target.accessor<int64_t, 5>();
    const auto m = kept.accessor<bool, 5>();
    double bce = 0, scored = 0, dice = 0;
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t r = 0; r < 3; ++r) {
        double intersection = 0, sum = 0;
        for (int64_t i = 0; i < 3 * 4 * 5; ++i) {
          const int64_t z = i / 20, y = i / 5 % 4, x = i % 5;
          if (masked && !m[n][0][z][y][x]) continue;
          const double p = 1 / (1 + std::exp(-l[n][r][z][y][x])), g = static_cast<double>(t[n][r][z][y][x]);
          bce -= g * std::log(p) + (1 - g) * std::log(1 - p);
          scored += 1;
          intersection += p * g;
          sum += p + g;
        }
        dice += 1 - (2 * intersection + 1e-5) / (sum + 1e-5);
      }
    }
    const double expected = bce / scored + dice / 6;
    EXPECT_NEAR(dice_bce_loss(logits, target, masked ? kept : torch::Tensor()).item<double>(), expected, 1e-9) << masked;
  }
}

// Metrics per region: the Dice of region {2, 3} is the Dice of the masks "label is 2 or 3", counted here.
TEST(NnunetRegions, EvaluationScoresEachRegionsVoxels) {
  torch::manual_seed(2);
  const auto truth = torch::randint(0, 4, {8, 8, 8}, torch::kInt64), prediction = torch::randint(0, 4, {8, 8, 8}, torch::kInt64);
  const auto metrics = evaluate_regions(prediction, truth, {{1, 2, 3}, {2, 3}}, {1, 1, 1}, 1.0);
  ASSERT_EQ(metrics.size(), 2u);
  const auto g = truth.accessor<int64_t, 3>(), p = prediction.accessor<int64_t, 3>();
  double both = 0, in_truth = 0, in_prediction = 0;
  for (int64_t i = 0; i < 512; ++i) {
    const bool in_g = g[i / 64][i / 8 % 8][i % 8] >= 2, in_p = p[i / 64][i / 8 % 8][i % 8] >= 2;
    both += in_g && in_p;
    in_truth += in_g;
    in_prediction += in_p;
  }
  EXPECT_NEAR(metrics[1].dice, 2 * both / (in_truth + in_prediction), 1e-12);
}

// A region-based v2 dataset from check-dataset to evaluate: the plan has one sigmoid output per region,
// the run validates per region, its summary.json is what `evaluate -d DATASET` finds, and predict
// writes label values (painted in regions_class_order) that evaluate pairs with the labels.
TEST(NnunetRegions, CheckPlanTrainPredictAndEvaluateARegionDataset) {
  repux::test::TempDir dir;
  const std::string root = write_v2_dataset(dir, 5, 2);
  write_region_labels(root);
  const auto plan = check_and_plan(dir, root, "3 regions");
  ASSERT_FALSE(plan.is_null());
  repux::test::CommandResult r;
  EXPECT_EQ(plan["network"]["out_channels"], 3);
  ASSERT_EQ(plan["regions"].size(), 3u);
  EXPECT_EQ(plan["regions"][1]["values"], (nlohmann::json{2, 3}));

  const std::string run = dir.file("run/fold_0");
  r = run_repux("train -d " + root + " --plan " + dir.file("plan.json") + " --fold 0 -o " + run + kTinyNetwork + " --iterations 4 --val-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("validation at 2: mean Dice"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("spleen_or_kidney"), std::string::npos) << r.output;
  const auto summary = read_json(run + "/validation/summary.json");
  EXPECT_EQ(summary["class_names"], (nlohmann::json{"organs", "spleen_or_kidney", "kidney"}));
  const auto described = read_json(run + "/dataset.json");
  EXPECT_EQ(described["labels"]["organs"], (nlohmann::json{1, 2, 3}));
  EXPECT_EQ(described["regions_class_order"], (nlohmann::json{1, 2, 3}));

  const Splits nnunet = make_splits({"phantom_000", "phantom_001", "phantom_002", "phantom_003", "phantom_004"});
  fs::create_directories(dir.path() / "gt");
  for (const auto& id : nnunet[0].val) fs::copy(root + "/labelsTr/" + id + ".nii.gz", dir.path() / "gt" / (id + ".nii.gz"));
  r = run_repux("evaluate --pred " + run + "/validation --gt " + dir.file("gt") + " -d " + root + " -o " + dir.file("eval.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto evaluated = read_json(dir.file("eval.json"));
  EXPECT_EQ(evaluated["class_names"], summary["class_names"]);
  EXPECT_EQ(summary["mean"]["dice"], evaluated["mean"]["dice"]);

  r = run_repux("predict -m " + run + "/last.repux -i " + root + "/imagesTs -o " + dir.file("pred"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& name : list_volume_files(dir.file("pred"))) {
    const auto values = std::get<0>(torch::_unique(read_volume(dir.file("pred/" + name)).data.to(torch::kInt64)));
    EXPECT_LE(values.max().item<int64_t>(), 3) << name;
  }
  r = run_repux("evaluate --pred " + dir.file("pred") + " --gt " + root + "/labelsTs -d " + root + " -o " + dir.file("test.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_repux("info " + run + "/last.repux");
  EXPECT_NE(r.output.find("regions"), std::string::npos) << r.output;
}
