// `repux predict` as a user runs it: output geometry equals the input's, and bad inputs fail cleanly
// without stopping the other cases of a folder.
#include "repux/data/preprocess.h"
#include "repux/data/synth.h"
#include "repux/infer/predictor.h"
#include "repux/io/nifti.h"
#include "repux/model/model_file.h"
#include "cpu_features.h"
#include "test_util.h"
#include "tiny_model.h"

#include <gtest/gtest.h>

#include <cstdio>

#include <filesystem>
#include <set>

using namespace repux;
namespace fs = std::filesystem;

namespace {

// A tiny untrained model with a resampling recipe, so every geometry step of predict is exercised.
std::string write_tiny_model(const repux::test::TempDir& dir, const std::string& name = "tiny.repux", uint64_t seed = 0,
                             int64_t classes = 4) {
  Plan plan;
  plan.network.out_channels = classes;
  plan.class_names = synth_class_names();
  plan.class_names.resize(static_cast<size_t>(classes), "extra");
  plan.preprocessing.spacing = std::array<double, 3>{3.0, 3.0, 3.0};
  return repux::test::write_tiny_model(dir, plan, name, seed);
}

// A small synthetic CT (min_size to max_size voxels a side).
Volume small_case(uint64_t seed, int64_t min_size = 30, int64_t max_size = 40) {
  SynthOptions so;
  so.min_size = min_size;
  so.max_size = max_size;
  return make_synthetic_case(seed, so).image;
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

// --timings: the stages of one case, each measured (none negative: stitching is the sliding window's
// time less the network's), the network's non-zero, together no more than the case's own time.
TEST(Predict, TimingsAccountForTheStagesOfACase) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  write_nifti(small_case(7, 30, 44), dir.file("ct.nii.gz"));
  const auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file("seg.nii.gz") + " --timings");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  double total = 0, read = 0, pre = 0, network = 0, stitching = 0, post = 0, write = 0;
  const auto case_line = r.output.find(" -> ");
  ASSERT_NE(case_line, std::string::npos) << r.output;
  ASSERT_EQ(std::sscanf(r.output.c_str() + r.output.find('(', case_line), "(%lf s,", &total), 1) << r.output;
  const auto line = r.output.find("  read ");
  ASSERT_NE(line, std::string::npos) << r.output;
  ASSERT_EQ(std::sscanf(r.output.c_str() + line,
                        "  read %lf s, preprocess %lf s, network %lf s, stitching and restoring %lf s, post-processing %lf s, write %lf s",
                        &read, &pre, &network, &stitching, &post, &write),
            6)
      << r.output;
  for (double t : {read, pre, network, stitching, post, write}) EXPECT_GE(t, 0) << r.output;
  EXPECT_GT(network, 0) << r.output;
  EXPECT_LE(read + pre + network + stitching + post + write, total + 0.06) << r.output;  // the total is printed to 0.1 s
  // Each stage's peak resident memory: read from the kernel (VmHWM, reset between stages), so each is
  // at least the program's own code and libraries (tens of MiB) and none is missing (-1).
  const auto peaks = r.output.find("  peak resident memory: ");
  ASSERT_NE(peaks, std::string::npos) << r.output;
  double read_peak = 0, pre_peak = 0, windows_peak = 0, write_peak = 0;
  ASSERT_EQ(std::sscanf(r.output.c_str() + peaks, "  peak resident memory: read %lf GiB, preprocess %lf GiB, windows to labels %lf GiB, write %lf GiB",
                        &read_peak, &pre_peak, &windows_peak, &write_peak),
            4)
      << r.output;
  for (double gib : {read_peak, pre_peak, windows_peak, write_peak}) EXPECT_GT(gib, 0.01) << r.output;
}

TEST(Predict, BadInputsFailCleanlyAndOtherCasesStillRun) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  fs::create_directories(dir.file("in"));
  write_nifti(small_case(1), dir.file("in/a_good.nii.gz"));
  fs::copy_file(repux::test::data_path("nifti/bad_4d_channels.nii.gz"), dir.file("in/b_channels.nii.gz"));
  write_nifti(small_case(2), dir.file("in/c_good.nii.gz"));

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
  write_nifti(small_case(7, 30, 36), dir.file("ct.nii.gz"));
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

namespace {

// Per voxel, the largest probability minus the second largest.
torch::Tensor top_two_margin(const torch::Tensor& probabilities) {
  auto top = std::get<0>(probabilities.topk(2, 0));
  return top[0] - top[1];
}

}  // namespace

// The slab path (rows finished, restored and reduced as the windows pass) against the whole-volume
// path it replaces, on a resampled, cropped case cut into one-row slabs.
TEST(Predict, SlabsGiveTheProbabilitiesAndLabelsOfTheWholeVolumePath) {
  repux::test::TempDir dir;
  LoadedModel model = load_model(write_tiny_model(dir));
  const Volume image = small_case(11, 34, 46);
  PredictOptions o;
  o.keep_probabilities = true;
  o.overrides.overlap = 0.5;
  o.stitching = Stitching::Whole;
  const Prediction whole = predict_volume(model, image, o);
  o.stitching = Stitching::Slabs;
  o.slab_bytes = 1;
  const Prediction slabs = predict_volume(model, image, o);
  ASSERT_EQ(slabs.probabilities.data.sizes(), whole.probabilities.data.sizes());
  EXPECT_LT((slabs.probabilities.data - whole.probabilities.data).abs().max().item<double>(), 1e-5);
  const auto clear = top_two_margin(whole.probabilities.data) > 1e-4;
  const auto same = slabs.labels.data == whole.labels.data;
  EXPECT_TRUE(same.masked_select(clear).all().item<bool>());
  EXPECT_GE(same.to(torch::kFloat64).mean().item<double>(), 0.9999);
  EXPECT_TRUE(torch::equal(slabs.labels.affine, image.affine));
  EXPECT_EQ(slabs.labels.spatial_shape(), image.spatial_shape());
}

// The slab path along whichever axis is the image's longest (the same case with its axes rotated, so
// that the rows run along each voxel axis in turn), with float32 accumulators and with float16 shifted
// means (forced by a zero budget): the whole-volume path's probabilities and labels.
TEST(Predict, SlabsAlongAnyAxisAndInFloat16KeepTheWholeVolumePath) {
  repux::test::TempDir dir;
  LoadedModel model = load_model(write_tiny_model(dir));
  const Volume base = small_case(11, 34, 46);
  for (int64_t turn = 0; turn < 3; ++turn) {
    const std::array<int64_t, 3> axes{turn, (turn + 1) % 3, (turn + 2) % 3};
    Volume image = base;
    image.data = base.data.permute({axes[0], axes[1], axes[2]}).contiguous();
    image.affine = base.affine.clone();
    for (int p = 0; p < 3; ++p) image.affine.select(1, p).copy_(base.affine.select(1, axes[p]));
    PredictOptions o;
    o.keep_probabilities = true;
    o.overrides.overlap = 0.5;
    o.stitching = Stitching::Whole;
    const Prediction whole = predict_volume(model, image, o);
    const auto margin = top_two_margin(whole.probabilities.data);
    o.stitching = Stitching::Slabs;
    o.slab_bytes = 1;
    for (const int64_t budget : {int64_t{1} << 30, int64_t{0}}) {
      o.float32_accumulator_bytes = budget;
      const Prediction slabs = predict_volume(model, image, o);
      const std::string what = "turn " + std::to_string(turn) + (budget ? ", float32" : ", float16 shifted means");
      ASSERT_EQ(slabs.probabilities.data.sizes(), whole.probabilities.data.sizes()) << what;
      EXPECT_LT((slabs.probabilities.data - whole.probabilities.data).abs().max().item<double>(), budget ? 1e-5 : 2e-3) << what;
      const auto same = slabs.labels.data == whole.labels.data;
      EXPECT_TRUE(same.masked_select(margin > (budget ? 1e-4 : 1e-2)).all().item<bool>()) << what;
      EXPECT_GE(same.to(torch::kFloat64).mean().item<double>(), 0.999) << what;
    }
  }
}

// Two models: the ensemble's probabilities are the mean of each model's own, its labels their argmax;
// a model that does not fit the first is refused, naming its file.
TEST(Predict, EnsembleAveragesTheModelsProbabilitiesAndRefusesMismatches) {
  repux::test::TempDir dir;
  const std::string a = write_tiny_model(dir, "a.repux", 0), b = write_tiny_model(dir, "b.repux", 1);
  std::vector<LoadedModel> models{load_model(a), load_model(b)};
  const Volume image = small_case(12);
  PredictOptions o;
  o.keep_probabilities = true;
  const auto pa = predict_volume(models[0], image, o).probabilities.data;
  const auto pb = predict_volume(models[1], image, o).probabilities.data;
  const Prediction both = predict_volume(models, image, o);
  const auto mean = (pa.to(torch::kFloat64) + pb.to(torch::kFloat64)) / 2;
  EXPECT_LT((both.probabilities.data.to(torch::kFloat64) - mean).abs().max().item<double>(), 1e-6);
  EXPECT_GT((pa - pb).abs().max().item<double>(), 0.01);  // the two models really differ
  const auto clear = top_two_margin(mean) > 1e-4;
  EXPECT_TRUE((both.labels.data == mean.argmax(0).to(torch::kFloat32)).masked_select(clear).all().item<bool>());

  write_nifti(image, dir.file("ct.nii.gz"));
  auto r = repux::test::run_repux("predict -m " + a + " -m " + b + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file("seg.nii.gz"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::string three = write_tiny_model(dir, "three_classes.repux", 2, 3);
  r = repux::test::run_repux("predict -m " + a + " -m " + three + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("three_classes.repux: 1 input channel(s) and 3 classes, but " + a + " has 1 and 4"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("x.nii.gz")));
}

// A folder as a batch job: --shard K/N shares are disjoint and cover every case, finished cases are
// skipped on a second run unless --overwrite, and a log (not a terminal) gets no carriage returns.
TEST(Predict, ShardsAreDisjointAndCoverTheFolderAndDoneCasesAreSkipped) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  fs::create_directories(dir.file("in"));
  std::set<std::string> all;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "case_" + std::to_string(i) + ".nii.gz";
    write_nifti(small_case(20 + i, 20, 26), dir.file("in/" + name));
    all.insert(name);
  }
  std::set<std::string> seen;
  size_t total = 0;
  for (int k = 1; k <= 3; ++k) {
    const std::string out = dir.file("out" + std::to_string(k));
    const auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in") + " -o " + out + " --shard " + std::to_string(k) + "/3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find('\r'), std::string::npos);
    for (const auto& entry : fs::directory_iterator(out)) {
      seen.insert(entry.path().filename().string());
      ++total;
    }
  }
  EXPECT_EQ(seen, all);
  EXPECT_EQ(total, all.size());  // no case in two shares

  auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in") + " -o " + dir.file("out1") + " --shard 1/3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 case(s): 0 predicted, 2 skipped, 0 failed"), std::string::npos) << r.output;
  r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in") + " -o " + dir.file("out1") + " --shard 1/3 --overwrite");
  EXPECT_NE(r.output.find("2 case(s): 2 predicted, 0 skipped, 0 failed"), std::string::npos) << r.output;
  // --shard auto: a SLURM array task's share (tasks 4 to 6 of `--array=4-6`: task 5 is share 2/3).
  r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in") + " -o " + dir.file("auto") + " --shard auto");
  EXPECT_NE(r.output.find("not a SLURM job array task"), std::string::npos) << r.output;
  r = repux::test::run_command("env SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=4 " + std::string(REPUX_BINARY) +
                               " predict -m " + model + " -i " + dir.file("in") + " -o " + dir.file("auto") + " --shard auto 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> second, automatic;
  for (const auto& entry : fs::directory_iterator(dir.file("out2"))) second.insert(entry.path().filename().string());
  for (const auto& entry : fs::directory_iterator(dir.file("auto"))) automatic.insert(entry.path().filename().string());
  EXPECT_EQ(automatic, second);
  for (const std::string bad : {"4/3", "0/2", "1/0", "1-2", "1/2/3"}) {
    r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("in") + " -o " + dir.file("x") + " --shard " + bad);
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_NE(r.output.find("--shard '" + bad + "' is not K/N"), std::string::npos) << r.output;
  }
}

// Reliability round 3, defect 5: `-o` equal to `-i` replaced the CT by its labels (exit 0); a folder
// given as both input and output had every case replaced (--overwrite) or "skipped as done". Now
// refused before any work, the inputs untouched, also through a symbolic link.
TEST(Predict, AnOutputThatIsAnInputIsRefusedBeforeAnyWork) {
  repux::test::TempDir dir;
  const std::string model = write_tiny_model(dir);
  fs::create_directories(dir.file("cases"));
  const std::string ct = dir.file("cases/ct.nii.gz");
  write_nifti(small_case(1, 30, 34), ct);
  fs::create_symlink(ct, dir.file("link.nii.gz"));
  const Volume original = read_nifti(ct);
  const std::vector<std::string> commands{
      "predict -m " + model + " -i " + ct + " -o " + ct,
      "predict -m " + model + " -i " + ct + " -o " + dir.file("link.nii.gz"),
      "predict -m " + model + " -i " + dir.file("cases") + " -o " + dir.file("cases"),
      "predict -m " + model + " -i " + dir.file("cases") + " -o " + dir.file("cases/") + " --overwrite",
      "postprocess -m " + model + " -i " + ct + " -o " + ct,
      "convert " + ct + " -o " + ct,
      "crop " + ct + " --box 0:8,:,: -o " + dir.file("link.nii.gz"),
  };
  for (const auto& command : commands) {
    const auto r = repux::test::run_repux(command);
    EXPECT_EQ(r.exit_code, 1) << command << "\n" << r.output;
    EXPECT_NE(r.output.find("writing there would destroy the input"), std::string::npos) << command << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << command << "\n" << r.output;
  }
  EXPECT_TRUE(torch::equal(read_nifti(ct).data, original.data)) << "the input was changed";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.file("cases")), fs::directory_iterator()), 1) << "files were added to the input folder";
}
