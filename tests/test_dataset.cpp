// Dataset descriptions and `check-dataset`: every problem it detects, each with a deliberately broken case.
#include "repux/data/dataset.h"
#include "repux/data/splits.h"
#include "repux/data/synth.h"
#include "repux/io/geometry.h"
#include "repux/io/nifti.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace repux;
namespace fs = std::filesystem;

namespace {

SynthCase small_case(uint64_t seed) {
  SynthOptions o;
  o.min_size = 20;
  o.max_size = 24;
  return make_synthetic_case(seed, o);
}

}  // namespace

TEST(Dataset, ReadsOfficialJsonMsdAndNnunetLayouts) {
  repux::test::TempDir dir;
  write_synthetic_dataset(dir.file("msd"), 5, 1, SynthOptions{20, 24, true, 20.0});
  const Dataset msd = load_dataset(dir.file("msd"));
  EXPECT_EQ(msd.training.size(), 4u);
  EXPECT_EQ(msd.validation.size(), 1u);
  EXPECT_EQ(msd.class_names, synth_class_names());
  EXPECT_TRUE(fs::exists(msd.training[0].image));

  // An official-style list elsewhere, paths relative to a given root.
  std::ofstream(dir.file("list.json")) << R"({"training": [{"image": "imagesTr/synth_000_0000.nii.gz", "label": "labelsTr/synth_000.nii.gz"}],
                                             "validation": [{"image": "imagesTr/synth_001_0000.nii.gz", "label": "labelsTr/synth_001.nii.gz"}]})";
  const Dataset official = load_dataset(dir.file("list.json"), dir.file("msd"));
  ASSERT_EQ(official.training.size(), 1u);
  EXPECT_TRUE(fs::exists(official.validation[0].label));

  // nnU-Net raw layout: case_0000.nii.gz images, case.nii.gz labels, no dataset.json needed.
  fs::create_directories(dir.file("nnunet/imagesTr"));
  fs::create_directories(dir.file("nnunet/labelsTr"));
  for (int i = 0; i < 5; ++i) {
    const auto c = small_case(10 + i);
    write_nifti(c.image, dir.file("nnunet/imagesTr/case" + std::to_string(i) + "_0000.nii.gz"));
    write_nifti(c.label, dir.file("nnunet/labelsTr/case" + std::to_string(i) + ".nii.gz"));
  }
  Dataset nn = load_dataset(dir.file("nnunet"));
  ASSERT_EQ(nn.training.size(), 5u);
  EXPECT_EQ(fs::path(nn.training[2].label).filename(), "case2.nii.gz");
  nn = dataset_for_fold(nn, make_splits({"case0", "case1", "case2", "case3", "case4"}), 0, "splits");
  EXPECT_EQ(nn.training.size(), 4u);
  EXPECT_EQ(nn.validation.size(), 1u);
  EXPECT_TRUE(check_dataset(nn.training, 4).empty());
}

TEST(Dataset, CheckFindsEveryKindOfBrokenCase) {
  repux::test::TempDir dir;
  std::vector<CaseFiles> cases;
  auto add = [&](const std::string& name, const Volume& image, const Volume& label) {
    write_nifti(image, dir.file(name + "_img.nii.gz"));
    write_nifti(label, dir.file(name + "_lab.nii.gz"));
    cases.push_back({dir.file(name + "_img.nii.gz"), dir.file(name + "_lab.nii.gz")});
  };
  auto good = small_case(1);
  add("good", good.image, good.label);

  const auto shape = good.label.spatial_shape();
  add("shape", good.image, crop_or_pad(good.label, {0, 0, 0}, {shape[0] - 1, shape[1], shape[2]}));

  auto shifted = good.label;
  shifted.affine = shifted.affine.clone();
  shifted.affine[0][3] += 5.0;
  add("affine", good.image, shifted);

  auto out_of_range = good.label;
  out_of_range.data = out_of_range.data.clone();
  out_of_range.data[0][0][0] = 7;
  add("range", good.image, out_of_range);

  auto fractional = good.label;
  fractional.sample_type = SampleType::Float32;
  fractional.data = fractional.data.clone();
  fractional.data[1][1][1] = 0.5;
  add("fraction", good.image, fractional);

  auto constant = good.image;
  constant.data = torch::zeros_like(constant.data);
  add("empty", constant, good.label);

  std::ofstream(dir.file("broken_img.nii.gz")) << "not an image";
  cases.push_back({dir.file("broken_img.nii.gz"), dir.file("good_lab.nii.gz")});
  cases.push_back({dir.file("good_img.nii.gz"), dir.file("missing_lab.nii.gz")});

  const auto problems = check_dataset(cases, 4);
  auto find = [&](const std::string& file, const std::string& text) {
    for (const auto& p : problems) {
      if (p.file == dir.file(file) && p.problem.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(find("shape_lab.nii.gz", "differs from its image"));
  EXPECT_TRUE(find("affine_lab.nii.gz", "affine differs"));
  EXPECT_TRUE(find("range_lab.nii.gz", "expected 0..3"));
  EXPECT_TRUE(find("fraction_lab.nii.gz", "not integers"));
  EXPECT_TRUE(find("empty_img.nii.gz", "constant"));
  EXPECT_TRUE(find("broken_img.nii.gz", "not a readable NIfTI"));
  EXPECT_TRUE(find("missing_lab.nii.gz", "not found"));
  EXPECT_EQ(problems.size(), 7u);  // and nothing about the good case

  // The command lists them all and fails.
  std::string json = R"({"training": [)";
  for (size_t i = 0; i < cases.size(); ++i) {
    json += (i ? "," : "") + std::string(R"({"image": ")") + cases[i].image + R"(", "label": ")" + cases[i].label + R"("})";
  }
  std::ofstream(dir.file("dataset.json")) << json << "]}";
  const auto r = repux::test::run_repux("check-dataset " + dir.file("dataset.json") + " --classes 4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("7 problem(s) in 8 case(s)"), std::string::npos) << r.output;
}
