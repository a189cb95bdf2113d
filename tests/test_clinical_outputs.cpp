// Clinical outputs without DICOM: the contour tracer, per-structure statistics (against nibabel and
// numpy, tests/python/structure_statistics_reference.py) and the previews' orientation.
#include "repux/eval/preview.h"
#include "repux/eval/structure_statistics.h"
#include "repux/io/contours.h"
#include "repux/io/label_colours.h"
#include "repux/io/nifti.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace repux;
using repux::test::run_command;
using repux::test::run_repux;
using repux::test::TempDir;

namespace {

// Debian's Python, with python3-nibabel and python3-pydicom (scripts/install-deps.sh).
const std::string kPython = "/usr/bin/python3";

std::string script(const std::string& name) { return std::string(REPUX_TEST_DATA) + "/../python/" + name; }

// Random blobs: thresholded smoothed noise, so that masks have islands, holes and diagonal contacts.
torch::Tensor blobs(int64_t x, int64_t y, uint64_t seed, double threshold) {
  torch::manual_seed(seed);
  torch::Tensor noise = torch::rand({1, 1, x, y});
  noise = torch::avg_pool2d(noise, 3, 1, 1);
  return noise[0][0] > threshold;
}

torch::Tensor affine_of(std::array<double, 3> diagonal, std::array<double, 3> origin) {
  torch::Tensor a = torch::diag(torch::tensor({diagonal[0], diagonal[1], diagonal[2], 1.0}, torch::kFloat64));
  for (int r = 0; r < 3; ++r) a[r][3] = origin[r];
  return a;
}

// The same world volume stored with its first two axes reversed: RAS storage becomes LPS.
Volume stored_lps(const Volume& ras) {
  Volume lps = ras;
  lps.data = ras.data.flip({0, 1}).contiguous();
  const auto shape = ras.spatial_shape();
  lps.affine = ras.affine.clone();
  const torch::Tensor far_corner = torch::matmul(ras.affine, torch::tensor({double(shape[0] - 1), double(shape[1] - 1), 0.0, 1.0}, torch::kFloat64));
  lps.affine.select(1, 0).slice(0, 0, 3).neg_();
  lps.affine.select(1, 1).slice(0, 0, 3).neg_();
  lps.affine.select(1, 3).copy_(far_corner);
  return lps;
}

}  // namespace

// Filled by the even-odd rule, the traced polygons give back every mask exactly.
TEST(Contours, TracedPolygonsFillBackToTheMask) {
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const torch::Tensor mask = blobs(23 + seed % 7, 19 + seed % 5, seed, 0.45 + 0.01 * (seed % 10));
    const auto polygons = trace_polygons(mask);
    EXPECT_TRUE(torch::equal(fill_polygons(polygons, mask.size(0), mask.size(1)), mask)) << "seed " << seed;
    for (const auto& p : polygons) {
      for (size_t k = 0; k < p.corners.size(); ++k) {  // axis-parallel edges, no repeated corner, no straight-on vertex
        const auto& a = p.corners[k];
        const auto& b = p.corners[(k + 1) % p.corners.size()];
        const auto& c = p.corners[(k + 2) % p.corners.size()];
        EXPECT_TRUE((a[0] == b[0]) != (a[1] == b[1]));
        EXPECT_FALSE((a[0] == b[0] && b[0] == c[0]) || (a[1] == b[1] && b[1] == c[1])) << "seed " << seed;
      }
    }
  }
}

TEST(Contours, IslandsHolesAndDiagonalContactsAreSeparatePolygons) {
  torch::Tensor mask = torch::zeros({12, 10}, torch::kBool);
  mask.slice(0, 1, 6).slice(1, 1, 6).fill_(true);  // a square with a hole
  mask[3][3] = false;
  mask.slice(0, 8, 11).slice(1, 2, 4).fill_(true);  // an island
  mask[7][8] = true;                                 // two pixels touching at a corner
  mask[8][9] = true;
  const auto polygons = trace_polygons(mask);
  EXPECT_EQ(polygons.size(), 5u);
  // The square's outline: its 4 corners, counter-clockwise from (1, 1).
  EXPECT_EQ(polygons[0].corners, (std::vector<std::array<int64_t, 2>>{{1, 1}, {6, 1}, {6, 6}, {1, 6}}));
  EXPECT_TRUE(trace_polygons(torch::zeros({4, 4}, torch::kBool)).empty());
}

// repux stats against nibabel + numpy on the same files: an oblique volume and one stored LPS.
TEST(StructureStatistics, EqualNibabelAndNumpyOnObliqueAndLpsVolumes) {
  TempDir dir;
  const double c = std::cos(0.3), s = std::sin(0.3);
  torch::Tensor oblique = torch::tensor({0.8 * c, -0.9 * s, 0.0, -20.0, 0.8 * s, 0.9 * c, 0.3, 15.0, 0.0, -0.2, 2.5, -40.0, 0.0, 0.0, 0.0, 1.0},
                                        torch::kFloat64).reshape({4, 4});
  Volume image;
  torch::manual_seed(3);
  image.data = torch::randint(-1000, 1500, {30, 26, 12}).to(torch::kFloat32);
  image.affine = oblique;
  image.sample_type = SampleType::Int16;
  Volume labels;
  labels.data = torch::zeros({30, 26, 12});
  labels.data.slice(0, 3, 14).slice(1, 4, 20).slice(2, 2, 9).fill_(1);
  labels.data.slice(0, 18, 27).slice(1, 2, 9).slice(2, 5, 11).fill_(2);
  labels.data[25][24][1] = 2;  // a second island of one voxel
  labels.affine = oblique;
  labels.sample_type = SampleType::UInt8;
  labels.label_names = {"background", "liver", "spleen", "pancreas"};  // pancreas: no voxels
  for (const auto& [name, img, lab] : {std::tuple<std::string, Volume, Volume>{"oblique", image, labels},
                                       std::tuple<std::string, Volume, Volume>{"lps", stored_lps(image), stored_lps(labels)}}) {
    write_nifti(img, dir.file(name + "_ct.nii.gz"));
    write_nifti(lab, dir.file(name + "_seg.nii.gz"));
    const auto r = run_repux("stats -i " + dir.file(name + "_ct.nii.gz") + " -s " + dir.file(name + "_seg.nii.gz") + " -o " +
                             dir.file(name + ".json"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto reference_run = run_command(kPython + " " + script("structure_statistics_reference.py") + " " + dir.file(name + "_ct.nii.gz") +
                                           " " + dir.file(name + "_seg.nii.gz") + " 2>&1");
    ASSERT_EQ(reference_run.exit_code, 0) << reference_run.output;
    const auto reference = nlohmann::json::parse(reference_run.output);
    const auto ours = repux::test::read_json(dir.file(name + ".json"));
    ASSERT_EQ(ours.size(), 2u);  // a NIfTI names no labels: "label 1", "label 2"
    for (const auto& [structure, entry] : ours.items()) {
      const std::string label = std::to_string(entry["label"].get<int>());
      SCOPED_TRACE(name + " " + structure);
      EXPECT_EQ(structure, "label " + label);
      const auto& ref = reference.at(label);
      EXPECT_EQ(entry["voxels"], ref["voxels"]);
      EXPECT_NEAR(entry["volume"].get<double>(), ref["volume"].get<double>(), 1e-9 * ref["volume"].get<double>());
      EXPECT_NEAR(entry["volume_ml"].get<double>(), ref["volume"].get<double>() / 1000, 1e-12 * ref["volume"].get<double>());
      for (const char* key : {"mean", "median", "std", "p5", "p95"}) EXPECT_NEAR(entry[key].get<double>(), ref[key].get<double>(), 1e-3) << key;
      EXPECT_EQ(entry["intensity"], entry["mean"]);
      for (int a = 0; a < 3; ++a) {
        EXPECT_NEAR(entry["centroid_ras_mm"][a].get<double>(), ref["centroid_ras_mm"][a].get<double>(), 1e-6);
        EXPECT_NEAR(entry["centroid_lps_mm"][a].get<double>(), (a < 2 ? -1 : 1) * ref["centroid_ras_mm"][a].get<double>(), 1e-6);
        EXPECT_NEAR(entry["bbox_min_ras_mm"][a].get<double>(), ref["bbox_min_ras_mm"][a].get<double>(), 1e-6);
        EXPECT_NEAR(entry["bbox_max_ras_mm"][a].get<double>(), ref["bbox_max_ras_mm"][a].get<double>(), 1e-6);
      }
      EXPECT_EQ(entry["bbox_first_voxel"], ref["bbox_first_voxel"]);
      EXPECT_EQ(entry["bbox_last_voxel"], ref["bbox_last_voxel"]);
    }
  }
  // CSV: a header and one row per class, in label order.
  const auto r = run_repux("stats -i " + dir.file("lps_ct.nii.gz") + " -s " + dir.file("lps_seg.nii.gz") + " -o " + dir.file("s.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream csv(dir.file("s.csv"));
  std::string header, first;
  std::getline(csv, header);
  std::getline(csv, first);
  EXPECT_EQ(header.rfind("label,name,voxels,volume_mm3,volume_ml,mean", 0), 0u) << header;
  EXPECT_EQ(first.rfind("1,label 1,", 0), 0u) << first;
  EXPECT_NE(run_repux("stats -i " + dir.file("lps_ct.nii.gz") + " -s " + dir.file("lps_seg.nii.gz") + " -o " + dir.file("s.txt")).exit_code, 0);
  // Named classes (a model's) keep their names, and a class without voxels has no values.
  const auto named = structure_statistics(image, labels);
  ASSERT_EQ(named.size(), 3u);
  EXPECT_EQ(named[0].name, "liver");
  EXPECT_EQ(named[2].name, "pancreas");
  EXPECT_EQ(named[2].voxels, 0);
  EXPECT_TRUE(std::isnan(named[2].mean));
  EXPECT_TRUE(statistics_json(named)["pancreas"]["median"].is_null());
  EXPECT_EQ(statistics_json(named).begin().key(), "liver");  // label order, not alphabetical
}

// The same world stored RAS and stored LPS (and with its axes swapped) gives the same picture.
TEST(Preview, TheSameWorldStoredRasOrLpsGivesTheSamePicture) {
  Volume image;
  torch::manual_seed(5);
  image.data = torch::avg_pool3d(torch::rand({1, 1, 28, 22, 14}) * 200, 3, 1, 1)[0][0];
  image.affine = affine_of({1.2, 1.5, 2.5}, {-30, 20, 10});
  Volume labels;
  labels.data = torch::zeros({28, 22, 14});
  labels.data.slice(0, 3, 12).slice(1, 4, 15).slice(2, 3, 10).fill_(1);
  labels.data.slice(0, 16, 25).slice(1, 10, 20).slice(2, 5, 12).fill_(2);
  labels.affine = image.affine;
  labels.label_names = {"background", "liver", "spleen"};
  PreviewOptions options;
  options.title = "case";
  const Picture ras = render_preview(image, {{"prediction", &labels}}, options);
  const Volume image_lps = stored_lps(image), labels_lps = stored_lps(labels);
  const Picture lps = render_preview(image_lps, {{"prediction", &labels_lps}}, options);
  ASSERT_EQ(ras.width, lps.width);
  ASSERT_EQ(ras.height, lps.height);
  EXPECT_TRUE(ras.rgb == lps.rgb);
  // Axes stored in another order (z, x, y): the same picture again.
  Volume image_zxy = image, labels_zxy = labels;
  image_zxy.data = image.data.permute({2, 0, 1}).contiguous();
  labels_zxy.data = labels.data.permute({2, 0, 1}).contiguous();
  image_zxy.affine = image.affine.index_select(1, torch::tensor({2, 0, 1, 3}));
  labels_zxy.affine = image_zxy.affine;
  const Picture zxy = render_preview(image_zxy, {{"prediction", &labels_zxy}}, options);
  EXPECT_TRUE(ras.rgb == zxy.rgb);
  // Labels whose centre lies half way between voxels on every axis (13.5, 9.5, 5.5): the slices must
  // be the same ones, whichever way the axes are stored (a centre rounded before the turn was not).
  Volume halfway = labels;
  halfway.data = torch::zeros({28, 22, 14});
  halfway.data.slice(0, 2, 6).slice(1, 8, 12).slice(2, 4, 8).fill_(1);
  halfway.data.slice(0, 22, 26).slice(1, 8, 12).slice(2, 4, 8).fill_(2);
  const Volume halfway_lps = stored_lps(halfway);
  EXPECT_TRUE(render_preview(image, {{"prediction", &halfway}}, options).rgb ==
              render_preview(image_lps, {{"prediction", &halfway_lps}}, options).rgb);
}

namespace {

// The mean column and row of the pixels drawn in exactly `colour` (the outlines) in the picture's top
// half (the axial and coronal rows; the legend is at the bottom).
std::array<double, 2> where_drawn(const Picture& p, const Rgb& colour) {
  double sx = 0, sy = 0, n = 0;
  for (int y = 0; y < p.height / 2; ++y) {
    for (int x = 0; x < p.width; ++x) {
      const unsigned char* px = &p.rgb[(static_cast<size_t>(y) * p.width + x) * 3];
      if (px[0] == colour[0] && px[1] == colour[1] && px[2] == colour[2]) {
        sx += x;
        sy += y;
        ++n;
      }
    }
  }
  EXPECT_GT(n, 0) << "colour not drawn";
  return {sx / n, sy / n};
}

}  // namespace

// Radiological convention: the patient's right on the image's left, anterior up (in an LPS-stored
// volume too, and in one whose first axis runs to the patient's left).
TEST(Preview, PatientRightIsOnTheImageLeftAndAnteriorUp) {
  for (bool lps : {false, true}) {
    Volume image;
    image.data = torch::full({24, 24, 9}, 100.0);
    image.affine = affine_of({1, 1, 3}, {0, 0, 0});  // RAS: x grows toward the patient's right
    Volume labels;
    labels.data = torch::zeros({24, 24, 9});
    labels.data.slice(0, 19, 22).slice(1, 10, 14).slice(2, 4, 5).fill_(1);  // right
    labels.data.slice(0, 2, 5).slice(1, 10, 14).slice(2, 4, 5).fill_(2);    // left
    labels.data.slice(0, 10, 14).slice(1, 19, 22).slice(2, 4, 5).fill_(3);  // anterior
    labels.data.slice(0, 10, 14).slice(1, 2, 5).slice(2, 4, 5).fill_(4);    // posterior
    labels.affine = image.affine;
    const Volume img = lps ? stored_lps(image) : image, lab = lps ? stored_lps(labels) : labels;
    PreviewOptions options;
    options.window = DisplayWindow{200, 100, "test"};
    const Picture p = render_preview(img, {{"labels", &lab}}, options);
    const auto right = where_drawn(p, label_colour(1)), left = where_drawn(p, label_colour(2));
    const auto anterior = where_drawn(p, label_colour(3)), posterior = where_drawn(p, label_colour(4));
    EXPECT_LT(right[0], left[0]) << (lps ? "LPS" : "RAS");
    EXPECT_LT(anterior[1], posterior[1]) << (lps ? "LPS" : "RAS");
  }
}

TEST(Preview, WindowsFromPresetsNumbersAndTheImage) {
  EXPECT_EQ(parse_window("lung").level, -600);
  EXPECT_EQ(parse_window("350/50").width, 350);
  EXPECT_NE(repux::test::error_of([] { parse_window("wide"); }).find("abdomen, lung, bone, brain"), std::string::npos);
  EXPECT_NE(repux::test::error_of([] { parse_window("-5/40"); }).find("positive width"), std::string::npos);
  Volume ct;
  ct.data = torch::linspace(-1024, 1500, 4096).reshape({16, 16, 16});
  ct.affine = torch::eye(4, torch::kFloat64);
  EXPECT_EQ(choose_window(ct).level, 40);  // air: a CT
  Volume mr = ct;
  mr.data = torch::cat({torch::zeros({2048}), torch::linspace(100, 1100, 2048)}).reshape({16, 16, 16});
  const DisplayWindow w = choose_window(mr);  // the foreground's 1st-99th percentile, the zeros left out
  EXPECT_NEAR(w.level - w.width / 2, 110, 1.0);
  EXPECT_NEAR(w.level + w.width / 2, 1090, 1.0);
}
