// The command line as a newcomer meets it: --threads before or after the subcommand, a suggestion for
// a misspelt option or subcommand, devices refused in repux's words, evaluate's table and output
// folder, synth refusing a folder in use, the help's headings, the man page without build paths, and
// the bash completion written from the program's own options.
#include "repux/data/synth.h"
#include "repux/io/nifti.h"
#include "test_util.h"
#include "tiny_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

using repux::test::run_command;
using repux::test::run_repux;
using repux::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string small_volume(const TempDir& dir) {
  repux::Volume v;
  v.data = torch::zeros({4, 4, 4});
  v.affine = torch::eye(4, torch::kFloat64);
  repux::write_nifti(v, dir.file("v.nii.gz"));
  return dir.file("v.nii.gz");
}

}  // namespace

TEST(CommandLine, ThreadsIsAcceptedBeforeAndAfterTheSubcommand) {
  TempDir dir;
  const std::string v = small_volume(dir);
  EXPECT_EQ(run_repux("--threads 1 info " + v).exit_code, 0);
  const auto after = run_repux("info " + v + " --threads 1");
  EXPECT_EQ(after.exit_code, 0) << after.output;
  const auto bad = run_repux("info " + v + " --threads 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--threads"), std::string::npos) << bad.output;
}

// -i/--input wherever a command reads one input, the positional form kept.
TEST(CommandLine, InputsTakeDashIOrAPositional) {
  TempDir dir;
  const std::string v = small_volume(dir);
  for (const std::string& command : {"info -i " + v, "info " + v, "info --input " + v, "convert -i " + v + " -o " + dir.file("c.nii.gz"),
                                     "resample -i " + v + " --spacing 2 -o " + dir.file("r.nii.gz"),
                                     "crop --input " + v + " --box 0:2,:,: -o " + dir.file("k.nii.gz")}) {
    const auto r = run_repux(command);
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  }
}

// The grammar of the README, subcommand by subcommand: -i/--input, -o/--output, -m/--model, --gt,
// --pred, --device, --overwrite and --threads (after the subcommand) wherever they apply. Parsed only
// (REPUX_PARSE_ONLY=fragment: the command line is checked, nothing runs, required options may be left out).
TEST(CommandLine, EverySubcommandTakesTheCommonOptionsWhereTheyApply) {
  const std::map<std::string, std::vector<std::string>> common{
      {"--input x", {"info", "convert", "resample", "crop", "relabel", "plan", "preprocess", "check-dataset", "import", "predict", "report",
                     "forward", "erf", "postprocess", "train", "stats"}},
      {"-i x", {"info", "convert", "plan", "check-dataset", "import", "predict", "report", "forward", "erf", "postprocess", "train", "stats"}},
      {"--output y", {"convert", "resample", "crop", "relabel", "plan", "preprocess", "import", "export", "predict", "report", "forward", "erf",
                      "postprocess", "train", "evaluate", "stats", "synth", "cross-validate"}},
      {"--model m", {"predict", "export", "forward", "erf", "postprocess", "serve", "pacs-segment"}},
      {"--gt g", {"evaluate", "report", "postprocess", "cross-validate"}},
      {"--pred p", {"evaluate", "report", "postprocess"}},
      {"--device cpu", {"predict", "forward", "erf", "train"}},
      {"--overwrite", {"predict", "preprocess", "train", "synth"}},
      {"--threads 1", {"info", "synth", "plan", "preprocess", "train", "predict", "evaluate", "report", "stats", "convert", "erf", "import"}}};
  ::setenv("REPUX_PARSE_ONLY", "fragment", 1);
  for (const auto& [option, commands] : common) {
    for (const auto& command : commands) {
      const auto r = run_repux(command + " " + option);
      EXPECT_EQ(r.exit_code, 0) << "repux " << command << " " << option << "\n" << r.output;
    }
  }
  const auto control = run_repux("predict --no-such-option");  // the mode refuses what the program does not know
  ::unsetenv("REPUX_PARSE_ONLY");
  EXPECT_NE(control.exit_code, 0) << control.output;
}

TEST(CommandLine, MisspeltOptionsAndSubcommandsGetASuggestion) {
  auto r = run_repux("train -d data/ -o run/ --itertions 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("did you mean --iterations (not --itertions)?"), std::string::npos) << r.output;
  r = run_repux("preditc -m m.repux -i a.nii.gz -o b.nii.gz");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("did you mean predict (not preditc)?"), std::string::npos) << r.output;
  r = run_repux("predict -m m.repux -i a.nii.gz -o b.nii.gz --zzzzzzzzzz");  // nothing near: no suggestion
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.output.find("did you mean"), std::string::npos) << r.output;
}

TEST(CommandLine, DevicesAreRefusedInRepuxsWords) {
  TempDir dir;
  const std::string v = small_volume(dir);
  auto r = run_repux("predict -m nothing.repux -i " + v + " -o " + dir.file("o.nii.gz") + " --device gpu");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--device 'gpu': expected cpu, cuda or cuda:N"), std::string::npos) << r.output;
  if (!torch::cuda::is_available()) {
    r = run_repux("predict -m nothing.repux -i " + v + " -o " + dir.file("o.nii.gz") + " --device cuda");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.output.find("has no CUDA") != std::string::npos || r.output.find("no CUDA device") != std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("PyTorch is not linked"), std::string::npos) << r.output;
  }
}

// A missing input: one line naming it once, not its name twice and a "1 of 1 case(s) failed" line.
TEST(CommandLine, AMissingInputIsOneLineNamingItOnce) {
  TempDir dir;
  repux::Plan plan;
  plan.network.out_channels = 2;
  const std::string model = repux::test::write_tiny_model(dir, plan, "m.repux");
  const auto r = run_repux("predict -m " + model + " -i " + dir.file("missing.nii.gz") + " -o " + dir.file("o.nii.gz"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_EQ(r.output.find("case(s) failed"), std::string::npos) << r.output;
}

TEST(CommandLine, EvaluatePrintsATableAndMakesItsOutputFolder) {
  TempDir dir;
  const std::string data = repux::write_synthetic_dataset(dir.file("data"), 2, 3);
  const std::string out = dir.file("eval/deeper/summary.json");  // eval/ does not exist
  const auto r = run_repux("evaluate --pred " + dir.file("data/labelsTr") + " --gt " + dir.file("data/labelsTr") + " -o " + out +
                           " --class-names background liver spleen kidney");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_NE(r.output.find("class     Dice  HD95 (mm)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("liver   1.0000       0.00"), std::string::npos) << r.output;
  EXPECT_LT(r.output.find("liver"), r.output.find("spleen"));  // label order
  EXPECT_LT(r.output.find("spleen"), r.output.find("kidney"));
  // Without names given, a ground-truth folder inside a dataset takes the dataset's.
  const auto named = run_repux("evaluate --pred " + dir.file("data/labelsTr") + " --gt " + dir.file("data/labelsTr/") + " -o " +
                               dir.file("e2.json"));
  ASSERT_EQ(named.exit_code, 0) << named.output;
  EXPECT_NE(named.output.find("labels from " + dir.file("data/dataset.json")), std::string::npos) << named.output;
  EXPECT_NE(named.output.find("kidney  1.0000"), std::string::npos) << named.output;
}

// Without --preset or --plan, train chooses the preprocessing from the dataset's channel names and says
// so: never the CT window for an MRI dataset unasked.
TEST(CommandLine, TrainChoosesThePreprocessingFromTheChannelNames) {
  TempDir dir;
  const std::string data = repux::write_synthetic_dataset(dir.file("data"), 6, 4);
  const std::string tiny = " --dims 4 8 16 32 --depths 1 1 1 1 --kernel-sizes 5 --hidden 16 --patch 32 --iterations 1 --val-every 1 --no-final-validation";
  auto r = run_repux("train -d " + dir.file("data") + " -o " + dir.file("ct_run") + tiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("preprocessing: the flare preset (CT window"), std::string::npos) << r.output;
  EXPECT_EQ(repux::test::read_json(dir.file("ct_run/plan.json"))["preprocessing"]["name"], "flare");
  auto json = repux::test::read_json(dir.file("data/dataset.json"));
  json["channel_names"] = {{"0", "T2"}};
  json["modality"] = {{"0", "T2"}};
  repux::test::write_file(dir.file("data/dataset.json"), json.dump());
  r = run_repux("train -d " + dir.file("data") + " -o " + dir.file("mr_run") + tiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("preprocessing: the mri preset (z-score per case"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("names its channels T2, not CT"), std::string::npos) << r.output;
  EXPECT_EQ(repux::test::read_json(dir.file("mr_run/plan.json"))["preprocessing"]["name"], "mri");
  r = run_repux("train -d " + dir.file("data") + " -o " + dir.file("given_run") + tiny + " --preset flare");  // asked: kept
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("preprocessing: the"), std::string::npos) << r.output;
  EXPECT_EQ(repux::test::read_json(dir.file("given_run/plan.json"))["preprocessing"]["name"], "flare");
}

TEST(CommandLine, SynthRefusesAFolderInUseWithoutOverwrite) {
  TempDir dir;
  ASSERT_EQ(run_repux("synth -n 2 -o " + dir.file("s")).exit_code, 0);
  const auto again = run_repux("synth -n 1 -o " + dir.file("s"));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("not empty"), std::string::npos) << again.output;
  EXPECT_TRUE(fs::exists(dir.file("s/imagesTr/synth_001_0000.nii.gz")));  // untouched
  EXPECT_EQ(run_repux("synth -n 1 -o " + dir.file("s") + " --overwrite").exit_code, 0);
}

TEST(CommandLine, HelpGroupsSubcommandsAndTheManPageHasNoBuildPath) {
  const auto help = run_repux("--help");
  for (const char* heading : {"Workflow:", "Clinical use:", "Models and research:", "Volume tools:"}) {
    EXPECT_NE(help.output.find(heading), std::string::npos) << heading << "\n" << help.output;
  }
  EXPECT_EQ(help.output.find("Other:"), std::string::npos) << "a subcommand without a heading:\n" << help.output;
  EXPECT_LT(help.output.find("  train"), help.output.find("  info"));  // the work first, the tools last
  const fs::path build = fs::path(REPUX_BINARY).parent_path();
  if (!fs::exists(build / "repux.1.gz")) GTEST_SKIP() << "no man page in this build (help2man missing)";
  const auto page = run_command("zcat " + (build / "repux.1.gz").string());
  ASSERT_EQ(page.exit_code, 0);
  EXPECT_EQ(page.output.find(build.string()), std::string::npos) << "the build path is in the man page";
  EXPECT_EQ(page.output.find("allocator:"), std::string::npos);
  EXPECT_NE(page.output.find(".SS predict"), std::string::npos);
}

TEST(CommandLine, BashCompletionIsWrittenFromTheOptions) {
  TempDir dir;
  ASSERT_EQ(run_command(std::string(REPUX_BINARY) + " completion > " + dir.file("repux.bash")).exit_code, 0);
  auto complete = [&](const std::string& words, int cword) {
    return run_command("bash -c 'source " + dir.file("repux.bash") + "; COMP_WORDS=(" + words + "); COMP_CWORD=" + std::to_string(cword) +
                       "; _repux; echo ${COMPREPLY[@]}'")
        .output;
  };
  EXPECT_EQ(complete("repux pred", 1), "predict\n");
  const std::string options = complete("repux predict -i x --prev", 4);
  EXPECT_NE(options.find("--preview"), std::string::npos) << options;
  EXPECT_NE(options.find("--preview-window"), std::string::npos) << options;
  EXPECT_EQ(complete("repux stats --stat", 2), "\n");  // stats has no such option
  EXPECT_NE(complete("repux train --thr", 2).find("--threads"), std::string::npos);  // the global options too
}
