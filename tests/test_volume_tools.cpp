// Volume tools: label maps (relabel), crop with the affine kept exact, resampling onto another grid.
#include "repux/data/labels.h"
#include "repux/error.h"
#include "repux/io/nifti.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace repux;

namespace {

// An oblique, anisotropic affine so that a wrong affine update cannot pass by accident.
torch::Tensor oblique_affine() {
  return torch::tensor({{0.0, -1.2, 0.1, 30.0}, {0.9, 0.0, 0.0, -12.5}, {0.05, 0.0, 2.5, 7.0}, {0.0, 0.0, 0.0, 1.0}},
                       torch::kFloat64);
}

Volume label_volume(const std::array<int64_t, 3>& shape, int64_t max_label, uint64_t seed) {
  torch::manual_seed(seed);
  Volume v;
  v.data = torch::randint(0, max_label + 1, {shape[0], shape[1], shape[2]}, torch::kInt64).to(torch::kFloat32);
  v.affine = oblique_affine();
  v.sample_type = SampleType::UInt8;
  return v;
}

}  // namespace

TEST(LabelMap, RemapsListedLabelsAndSendsTheRestToBackground) {
  LabelMap map;
  map.mapping = {{1, 3}, {5, 1}, {9, 2}};  // 9 is not in the image: harmless
  const auto labels = torch::tensor({0, 1, 2, 5, 7, 1}, torch::kInt16);
  EXPECT_TRUE(torch::equal(remap_labels(labels, map), torch::tensor({0, 3, 0, 1, 0, 3}, torch::kInt64)));
  map.keep_unlisted = true;
  EXPECT_TRUE(torch::equal(remap_labels(labels, map), torch::tensor({0, 3, 2, 1, 7, 3}, torch::kInt64)));
  EXPECT_THROW(remap_labels(torch::tensor({0.0, 1.5}), map), Error);
  EXPECT_THROW(remap_labels(torch::tensor({0, -1}), map), Error);
}

TEST(LabelMap, ReadsPairsWithCommentsAndNamesTheBadLine) {
  repux::test::TempDir dir;
  std::ofstream(dir.file("ok.txt")) << "# AAL to lobes\n1 1\n\n2 1  # comment\n  7 4\n";
  const LabelMap map = read_label_map(dir.file("ok.txt"));
  EXPECT_EQ(map.mapping, (std::map<int64_t, int64_t>{{1, 1}, {2, 1}, {7, 4}}));

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"1 1\n1 2\n", ":2: label 1 is mapped twice"}, {"1 x\n", ":1: expected two integers"},
      {"1 2 3\n", ":1: expected two integers"},      {"1.5 2\n", ":1: expected two integers"},
      {"3 -1\n", ":1: labels must not be negative"}, {"# nothing\n", ": no 'old new' pairs"}};
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string path = dir.file("bad" + std::to_string(i) + ".txt");
    std::ofstream(path) << bad[i].first;
    try {
      read_label_map(path);
      ADD_FAILURE() << "accepted " << bad[i].first;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path + bad[i].second), std::string::npos) << e.what();
    }
  }
}

TEST(VolumeCommands, CropKeepsWorldPositionsAndRejectsBadBoxes) {
  repux::test::TempDir dir;
  const Volume v = label_volume({9, 7, 6}, 20, 1);
  write_nifti(v, dir.file("in.nii.gz"));
  auto r = repux::test::run_repux("crop " + dir.file("in.nii.gz") + " --box 2:5,:,1: -o " + dir.file("out.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume out = read_nifti(dir.file("out.nii.gz"));
  EXPECT_TRUE(torch::equal(out.data, v.data.slice(0, 2, 5).slice(2, 1, 6)));
  // Voxel (0,0,0) of the crop is voxel (2,0,1) of the input: same world point; same axes.
  const auto corner = torch::matmul(v.affine, torch::tensor({2.0, 0.0, 1.0, 1.0}, torch::kFloat64));
  EXPECT_TRUE(torch::allclose(out.affine.select(1, 3), corner, 0, 1e-5));
  EXPECT_TRUE(torch::allclose(out.affine.slice(1, 0, 3), v.affine.slice(1, 0, 3), 0, 1e-6));

  for (const std::string box : {"2:5,:", "5:2,:,:", "0:10,:,:", "a:3,:,:"}) {
    r = repux::test::run_repux("crop " + dir.file("in.nii.gz") + " --box '" + box + "' -o " + dir.file("bad.nii.gz"));
    EXPECT_EQ(r.exit_code, 1) << box;
    EXPECT_NE(r.output.find("--box"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad.nii.gz")));
  }
}

TEST(VolumeCommands, NearestResampleOntoAShiftedGridMovesLabelsByWholeVoxels) {
  repux::test::TempDir dir;
  const Volume v = label_volume({8, 8, 8}, 5, 2);
  write_nifti(v, dir.file("labels.nii.gz"));
  // The reference grid starts 2 voxels further along i and 1 along k: output[i,j,k] = input[i+2,j,k+1]
  // inside, and the nearest border value outside.
  Volume reference = v;
  reference.data = torch::zeros({6, 8, 7});
  reference.affine = v.affine.clone();
  reference.affine.select(1, 3).copy_(torch::matmul(v.affine, torch::tensor({2.0, 0.0, 1.0, 1.0}, torch::kFloat64)));
  write_nifti(reference, dir.file("ref.nii.gz"));
  auto r = repux::test::run_repux("resample " + dir.file("labels.nii.gz") + " --like " + dir.file("ref.nii.gz") +
                                  " --nearest -o " + dir.file("out.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume out = read_nifti(dir.file("out.nii.gz"));
  ASSERT_EQ(out.spatial_shape(), (std::array<int64_t, 3>{6, 8, 7}));
  EXPECT_TRUE(torch::equal(out.data, v.data.slice(0, 2, 8).slice(2, 1, 8)));
  EXPECT_TRUE(torch::allclose(out.affine, reference.affine, 0, 1e-5));

  r = repux::test::run_repux("resample " + dir.file("labels.nii.gz") + " -o " + dir.file("none.nii.gz"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("exactly one of --like or --spacing"), std::string::npos) << r.output;
}

TEST(VolumeCommands, RelabelWritesMergedLabelsAndRefusesIntensityImages) {
  repux::test::TempDir dir;
  const Volume v = label_volume({5, 6, 7}, 12, 3);
  write_nifti(v, dir.file("atlas.nii.gz"));
  std::ofstream(dir.file("map.txt")) << "1 1\n2 1\n3 2\n12 2\n";
  auto r = repux::test::run_repux("relabel " + dir.file("atlas.nii.gz") + " --map " + dir.file("map.txt") + " -o " +
                                  dir.file("merged.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume out = read_nifti(dir.file("merged.nii.gz"));
  const auto in = v.data;
  const auto expected = torch::where(in.eq(1) | in.eq(2), 1.0, torch::where(in.eq(3) | in.eq(12), 2.0, 0.0)).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(out.data, expected));
  EXPECT_EQ(out.sample_type, SampleType::UInt8);
  EXPECT_TRUE(torch::allclose(out.affine, v.affine, 0, 1e-6));

  Volume intensities = v;
  intensities.data = torch::rand({5, 6, 7}) * 100;
  intensities.sample_type = SampleType::Float32;
  write_nifti(intensities, dir.file("mri.nii.gz"));
  r = repux::test::run_repux("relabel " + dir.file("mri.nii.gz") + " --map " + dir.file("map.txt") + " -o " + dir.file("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("mri.nii.gz") + ": label image has values that are not whole numbers"), std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.nii.gz")));
}
