// The viewer page's content (the browser test, tests/viewer/test_viewer.sh, checks what it draws): the
// error layer against a voxel-by-voxel count, the embedded volumes read back equal to what was given,
// and names that cannot break out of the page's script.
#include "repux/eval/viewer_page.h"
#include "repux/io/nifti.h"
#include "test_util.h"
#include "viewer_page_reading.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace repux;
namespace fs = std::filesystem;

namespace {

Volume labels_of(const torch::Tensor& data) {
  Volume v;
  v.data = data.to(torch::kUInt8);
  v.affine = torch::diag(torch::tensor({1.5, 1.5, 2.0, 1.0}, torch::kFloat64));
  v.affine[0][3] = -20.0;
  v.sample_type = SampleType::UInt8;
  return v;
}

}  // namespace

TEST(ViewerPage, ErrorMapMarksFalsePositivesAndNegativesVoxelByVoxel) {
  torch::manual_seed(3);
  const auto prediction = torch::randint(0, 4, {9, 8, 7}), truth = torch::randint(0, 4, {9, 8, 7});
  const Volume errors = error_map(labels_of(prediction), labels_of(truth));
  int64_t fp = 0, fn = 0, marked_fp = 0, marked_fn = 0;
  auto p = prediction.accessor<int64_t, 3>(), t = truth.accessor<int64_t, 3>();
  auto e = errors.data.accessor<uint8_t, 3>();
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 8; ++j)
      for (int k = 0; k < 7; ++k) {
        const bool false_positive = p[i][j][k] != 0 && p[i][j][k] != t[i][j][k];
        const bool false_negative = t[i][j][k] != 0 && p[i][j][k] == 0;
        fp += false_positive;
        fn += false_negative;
        marked_fp += e[i][j][k] == kFalsePositive;
        marked_fn += e[i][j][k] == kFalseNegative;
        EXPECT_EQ(e[i][j][k], false_positive ? kFalsePositive : false_negative ? kFalseNegative : 0) << i << " " << j << " " << k;
      }
  EXPECT_GT(fp, 0);
  EXPECT_GT(fn, 0);
  EXPECT_EQ(marked_fp, fp);
  EXPECT_EQ(marked_fn, fn);
  EXPECT_TRUE(torch::equal(errors.affine, labels_of(prediction).affine));
}

TEST(ViewerPage, EmbedsTheVolumesAsGivenAndNamesThatCannotCloseTheScript) {
  if (!std::getenv("REPUX_NIIVUE")) {
    try {
      niivue_bundle_path();
    } catch (const Error& e) {
      GTEST_SKIP() << e.what();
    }
  }
  test::TempDir dir;
  Volume image;
  image.data = torch::arange(9 * 8 * 7, torch::kFloat32).reshape({9, 8, 7}) - 100;
  image.affine = labels_of(torch::zeros({1})).affine;
  const Volume prediction = labels_of((torch::arange(9 * 8 * 7) % 3).reshape({9, 8, 7}));
  const Volume truth = labels_of((torch::arange(9 * 8 * 7) % 2).reshape({9, 8, 7}));
  ViewerInput in{"case 1", &image, &prediction, &truth, {"background", "liver", "</script><script>alert(1)//"}};
  const std::string page = dir.file("page.html");
  write_viewer_page(in, page);

  std::ifstream html(page);
  const std::string text((std::istreambuf_iterator<char>(html)), {});
  EXPECT_EQ(text.find("</script><script>alert"), std::string::npos) << "a class name closed the page's script";
  EXPECT_NE(text.find("default-src 'none'"), std::string::npos);

  const nlohmann::json view = test::page_view(page);
  ASSERT_EQ(view["layers"].size(), 4u);  // image, truth, prediction, errors
  const Volume expected[] = {image, truth, prediction, error_map(prediction, truth)};
  for (size_t k = 0; k < 4; ++k) {
    const std::string file = dir.file("layer" + std::to_string(k) + ".nii.gz");
    const Volume back = test::page_layer(view, k, file);
    EXPECT_TRUE(torch::equal(back.data.to(torch::kFloat64), expected[k].data.to(torch::kFloat64))) << view["layers"][k]["kind"];
    EXPECT_TRUE(torch::allclose(back.affine, expected[k].affine)) << view["layers"][k]["kind"];
  }
  EXPECT_EQ(view["classes"][1]["name"], "</script><script>alert(1)//");
  EXPECT_EQ(view["classes"].size(), 2u);  // labels 1 and 2
  // Opens at the centre of the prediction's labelled voxels, in world mm.
  const auto where = torch::nonzero(prediction.data).to(torch::kFloat64).mean(0);
  EXPECT_NEAR(view["centre"][0].get<double>(), 1.5 * where[0].item<double>() - 20.0, 1e-6);
  EXPECT_NEAR(view["centre"][2].get<double>(), 2.0 * where[2].item<double>(), 1e-6);
}
