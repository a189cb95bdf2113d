// The ablation runner: Wilcoxon's signed-rank test against hand-counted null distributions, and a
// 2-iteration grid run end to end whose table must be the result files' own numbers, whose finished
// cells are kept on a second run, and whose table follows an edited result file.
#include "repux/data/synth_context.h"
#include "repux/eval/paired_test.h"
#include "repux/experiment/ablation.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace repux;
using repux::test::TempDir;

TEST(Wilcoxon, ExactPValuesCountedByHand) {
  // Five positive differences: W+ = 15, and only 1 of the 32 sign patterns is as extreme on each side.
  auto r = wilcoxon_signed_rank({0.1, 0.2, 0.3, 0.4, 0.5});
  EXPECT_EQ(r.pairs, 5);
  EXPECT_DOUBLE_EQ(r.w_plus, 15);
  EXPECT_DOUBLE_EQ(r.p_value, 2.0 / 32);
  // Ranks 1..6, negatives at 2 and 5: W+ = 14, W- = 7. Subsets of {1..6} summing to at most 7:
  // 1 + 1 + 1 + 2 + 2 + 3 + 4 + 4 = 18 of 64 (sums 0..7), so p = 2 x 18/64.
  r = wilcoxon_signed_rank({1, -2, 3, 4, -5, 6});
  EXPECT_DOUBLE_EQ(r.w_plus, 14);
  EXPECT_DOUBLE_EQ(r.p_value, 36.0 / 64);
  // Zero differences are dropped; three tied magnitudes share rank 2: W+ = 4, W- = 2, and
  // P(W+ <= 2) = 4/8, so p = 1.
  r = wilcoxon_signed_rank({0, 0.5, 0.5, -0.5, 0});
  EXPECT_EQ(r.pairs, 3);
  EXPECT_DOUBLE_EQ(r.w_plus, 4);
  EXPECT_DOUBLE_EQ(r.p_value, 1.0);
  EXPECT_DOUBLE_EQ(wilcoxon_signed_rank({}).p_value, 1.0);
}

namespace {

TrainOptions tiny_training(const std::string& dataset) {
  TrainOptions o;
  o.dataset = dataset;
  o.plan.network.dims = {4, 8, 8, 8};
  o.plan.network.depths = {1, 1, 1, 1};
  o.plan.network.hidden_size = 8;
  o.plan.network.out_channels = 4;
  o.plan.class_names = context_class_names();
  o.plan.preprocessing.spacing = {6.0, 6.0, 6.0};
  o.plan.patch = {32, 32, 32};
  o.plan = resolved(o.plan);
  o.iterations = 2;
  o.validate_every = 2;
  o.learning_rate = 1e-3;
  return o;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Mean foreground Dice of every case of a result file, as the file says.
std::vector<double> case_means(const nlohmann::json& result) {
  std::vector<double> means;
  for (const auto& c : result.at("cases")) {
    std::vector<double> dice;
    for (const auto& d : c.at("dice")) {
      if (d.is_number()) dice.push_back(d.get<double>());
    }
    means.push_back(mean_of(dice));
  }
  return means;
}

}  // namespace

TEST(Ablation, TwoIterationGridTableComesFromTheResultFilesAndFinishedCellsAreKept) {
  TempDir dir;
  const std::string dataset = write_context_dataset(dir.file("data"), 5, 3);
  AblationSpec spec;
  spec.training = tiny_training(dataset);
  spec.output_dir = dir.file("ablation");
  spec.kernel_sizes = {7};
  spec.reparams = {Reparam::None, Reparam::Bfr};
  spec.resenc_dims = {4, 8, 8, 8, 8};
  spec.resenc_depths = {1, 1, 1, 1, 1};
  spec.seeds = {0, 1};
  spec.erf = {32, 1, 4};  // a few inputs: with 4-8 channels one input's centre voxel can be dead in all
  const auto cells = ablation_cells(spec);
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[0].name, "k7-none");
  EXPECT_EQ(cells[2].network.arch, "resenc");
  EXPECT_EQ(reference_cell(spec), "k7-bfr");

  std::vector<std::string> lines;
  run_ablation(spec, [&](const std::string& l) { lines.push_back(l); });
  nlohmann::json table = ablation_table(spec);
  ASSERT_EQ(table.at("cells").size(), 3u);
  for (const auto& row : table.at("cells")) {
    const std::string cell = row.at("cell");
    std::vector<double> all;
    for (uint64_t seed : spec.seeds) {
      const auto result = test::read_json(ablation_result_path(spec, cell, seed));
      EXPECT_EQ(result.at("cases").size(), 1u);  // the dataset holds one validation case
      EXPECT_GT(result.at("parameters").get<int64_t>(), 0);
      for (double m : case_means(result)) all.push_back(m);
    }
    EXPECT_NEAR(row.at("mean_dice").get<double>(), mean_of(all), 1e-12) << cell;
  }
  const auto& itself = table.at("cells")[1].at("vs_reference");  // the reference against itself
  EXPECT_EQ(itself.at("pairs").get<int64_t>(), 2);
  EXPECT_EQ(itself.at("nonzero_pairs").get<int64_t>(), 0);
  EXPECT_EQ(itself.at("p_value").get<double>(), 1.0);

  // A second run trains nothing; every result file stays as it was.
  const std::string edited = ablation_result_path(spec, "k7-none", 0);
  const auto written = std::filesystem::last_write_time(edited);
  lines.clear();
  run_ablation(spec, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(lines.size(), 7u);  // the store (kept: its cases are finished), then the six runs
  EXPECT_NE(lines[0].find("preprocessing"), std::string::npos) << lines[0];
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_NE(lines[i].find("done before, kept"), std::string::npos) << lines[i];
  EXPECT_EQ(std::filesystem::last_write_time(edited), written);

  // The table follows the files: k7-none's seed-0 case set to a perfect score.
  nlohmann::json result = test::read_json(edited);
  for (auto& c : result["cases"]) {
    for (auto& d : c["dice"]) d = 1.0;
  }
  std::ofstream(edited) << result.dump();
  table = ablation_table(spec);
  const auto seed1 = case_means(test::read_json(ablation_result_path(spec, "k7-none", 1)));
  EXPECT_NEAR(table.at("cells")[0].at("mean_dice").get<double>(), (1.0 + seed1[0]) / 2, 1e-12);
  write_ablation_report(spec, table);
  for (const char* name : {"table.md", "table.csv", "table.json"}) EXPECT_TRUE(std::filesystem::exists(dir.file(std::string("ablation/") + name))) << name;

  std::filesystem::remove(ablation_result_path(spec, "resenc", 1));
  EXPECT_NE(test::error_of([&] { ablation_table(spec); }).find("resenc/seed-1/result.json: missing"), std::string::npos);
}

// Reliability round 3, defect 7: an ablation config is read strictly; the committed examples parse.
TEST(Ablation, ConfigsRefuseUnknownKeysNamingTheFile) {
  const auto no_training = [](const std::vector<std::string>&) { return TrainOptions{}; };
  for (const char* example : {"context-cpu.json", "context-cpu-600.json"}) {
    const std::string path = std::string(REPUX_TEST_DATA) + "/../../examples/ablation/" + example;
    EXPECT_NO_THROW(read_ablation_config(path, no_training)) << path;
  }
  test::TempDir dir;
  const std::vector<std::pair<nlohmann::json, std::string>> cases{
      {{{"train", {"-d", "x"}}, {"kernel_size", {7}}}, "unknown key 'kernel_size' in the ablation config"},
      {{{"train", {"-d", "x"}}, {"erf", {{"sizes", 64}}}}, "unknown key 'sizes' in field 'erf'"},
  };
  for (const auto& [config, expected] : cases) {
    test::write_file(dir.file("config.json"), config.dump());
    const std::string message = test::error_of([&] { read_ablation_config(dir.file("config.json"), no_training); });
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.rfind(dir.file("config.json") + ": ", 0), 0u) << message;
  }
}
