// RTSTRUCT out, against other tools: series written by plastimatch; the RTSTRUCT must pass dciodvfy,
// be read by pydicom (tests/python/read_rtstruct.py), and plastimatch must rasterise it back onto the
// series' grid within Dice 0.95 of repux's label map, for series stored head first and feet first.
// And one prediction written every way at once (`repux predict` with several outputs).
#include "repux/io/dicom_series.h"
#include "repux/io/label_colours.h"
#include "repux/io/volume_file.h"
#include "dicom_tools.h"
#include "tiny_model.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace repux;
using repux::test::arg;
using repux::test::plastimatch_series;
using repux::test::run_repux;
using repux::test::shell;
using repux::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kPython = "/usr/bin/python3";

// `v`'s voxels on `like`'s grid, when the two grids coincide up to axis order and direction.
torch::Tensor on_grid_of(const Volume& v, const Volume& like) {
  const torch::Tensor m = torch::matmul(torch::inverse(v.affine), like.affine).round();  // like's index -> v's index
  torch::Tensor data = v.data;
  std::vector<int64_t> order(3);
  for (int64_t li = 0; li < 3; ++li) {
    for (int64_t vi = 0; vi < 3; ++vi) {
      if (std::abs(m[vi][li].item<double>()) == 1) order[li] = vi;
    }
  }
  for (int64_t li = 0; li < 3; ++li) {
    if (m[order[li]][li].item<double>() < 0) data = data.flip(order[li]);
  }
  return data.permute(order);
}

double dice(const torch::Tensor& a, const torch::Tensor& b) {
  const double both = (a & b).sum().item<double>(), total = a.sum().item<double>() + b.sum().item<double>();
  return total > 0 ? 2 * both / total : 1.0;
}

// Two structures, each with two islands and a hole, on the series' grid.
Volume phantom_labels(const Volume& image) {
  Volume labels;
  labels.data = torch::zeros_like(image.data);
  auto box = [&](int64_t x0, int64_t x1, int64_t y0, int64_t y1, int64_t z0, int64_t z1, float value) {
    labels.data.slice(0, x0, x1).slice(1, y0, y1).slice(2, z0, z1).fill_(value);
  };
  box(3, 14, 3, 13, 1, 7, 1);
  box(7, 10, 6, 9, 2, 5, 0);  // a hole
  box(17, 22, 3, 8, 2, 8, 1);  // a second island
  box(24, 34, 16, 28, 1, 9, 2);
  box(27, 31, 20, 24, 3, 6, 0);
  box(4, 9, 20, 26, 4, 6, 2);
  labels.affine = image.affine.clone();
  labels.format_details = image.format_details;
  labels.label_names = {"background", "liver", "spleen"};
  labels.sample_type = SampleType::UInt8;
  return labels;
}

}  // namespace

TEST(DicomRtstruct, ValidReadByPydicomAndRasterisedBackByPlastimatch) {
  for (const std::string position : {"hfs", "ffs"}) {
    SCOPED_TRACE(position);
    TempDir dir;
    torch::Tensor affine = torch::diag(torch::tensor({0.8, 0.9, 2.5, 1.0}, torch::kFloat64));
    if (position == "ffs") affine = torch::diag(torch::tensor({-0.8, 0.9, -2.5, 1.0}, torch::kFloat64));
    affine[0][3] = -10;
    affine[2][3] = 30;
    const std::string series = plastimatch_series(dir, "ct", affine, {38, 32, 10}, position);
    const Volume image = read_volume(series);
    const Volume labels = phantom_labels(image);
    const std::string rtss = dir.file("rtss.dcm");
    VolumeWriteOptions options;
    options.dicom_object = DicomObject::Rtstruct;
    write_volume(labels, rtss, options);

    const std::string report = shell("dciodvfy " + arg(rtss));
    EXPECT_EQ(report.find("Error"), std::string::npos) << report;

    const auto read = nlohmann::json::parse(shell(kPython + " " + std::string(REPUX_TEST_DATA) + "/../python/read_rtstruct.py " + arg(rtss)));
    const DicomSeriesDetails& source = *dicom_series_details(image);
    EXPECT_EQ(read["modality"], "RTSTRUCT");
    EXPECT_EQ(read["frame_of_reference"], source.frame_of_reference_uid);
    EXPECT_EQ(read["study"], source.study_uid);
    EXPECT_EQ(read["study_instance_uid"], source.study_uid);
    EXPECT_EQ(read["series"], source.series_uid);
    ASSERT_EQ(read["rois"].size(), 2u);
    for (int k = 1; k <= 2; ++k) {
      const auto& roi = read["rois"][std::to_string(k)];
      EXPECT_EQ(roi["name"], labels.label_names[k]);
      const Rgb c = label_colour(k);
      EXPECT_EQ(roi["colour"], (std::vector<int>{c[0], c[1], c[2]}));
      EXPECT_TRUE(roi["valid"].get<bool>());
      EXPECT_GE(roi["contours"].get<int>(), 2 * 5);  // islands and holes on their slices
      for (const auto& uid : roi["slices"]) {
        EXPECT_NE(std::find(source.sop_instance_uids.begin(), source.sop_instance_uids.end(), uid.get<std::string>()),
                  source.sop_instance_uids.end());
      }
    }

    const std::string back = dir.file("back");
    shell("plastimatch convert --input " + arg(rtss) + " --referenced-ct " + arg(series) + " --output-prefix " + arg(back) +
          " --prefix-format nii.gz");
    for (int k = 1; k <= 2; ++k) {
      const Volume structure = read_volume(back + "/" + labels.label_names[k] + ".nii.gz");
      const torch::Tensor mask = on_grid_of(structure, image).ne(0);
      ASSERT_EQ(mask.sizes(), labels.data.sizes());
      EXPECT_GE(dice(mask, labels.data.eq(k)), 0.95) << labels.label_names[k];
    }
  }
}

TEST(DicomRtstruct, LabelsWithoutASourceSeriesAreRefusedAndNothingIsWritten) {
  TempDir dir;
  Volume labels;
  labels.data = torch::ones({4, 4, 4});
  labels.affine = torch::eye(4, torch::kFloat64);
  VolumeWriteOptions options;
  options.dicom_object = DicomObject::Rtstruct;
  const std::string error = repux::test::error_of([&] { write_volume(labels, dir.file("rt.dcm"), options); });
  EXPECT_NE(error.find("refers to its source series"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir.file("rt.dcm")));
}

// One prediction of a DICOM series written as NIfTI, SEG, RTSTRUCT, statistics and preview at once;
// a NIfTI input asked for a SEG without --reference is refused before anything is written.
TEST(DicomRtstruct, PredictWritesEveryOutputFromOnePass) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "ct", torch::diag(torch::tensor({1.5, 1.5, 3.0, 1.0}, torch::kFloat64)), {24, 24, 10});
  Plan plan;
  plan.network.out_channels = 3;
  plan.class_names = {"background", "liver", "spleen"};
  const std::string model = repux::test::write_tiny_model(dir, plan, "m.repux");
  const std::string out = dir.file("out");
  fs::create_directories(out);
  auto r = run_repux("predict -m " + model + " -i " + series + " -o " + out + "/labels.nii.gz -o " + out + "/seg.dcm --rtstruct " + out +
                     "/rtss.dcm --statistics " + out + "/stats.json --preview " + out + "/preview.png");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"labels.nii.gz", "seg.dcm", "rtss.dcm", "stats.json", "preview.png"}) EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_EQ(repux::test::dumped(out + "/rtss.dcm", "0008,0060").at(0), "RTSTRUCT");
  EXPECT_EQ(repux::test::dumped(out + "/seg.dcm", "0008,0060").at(0), "SEG");
  const Volume nifti = read_volume(out + "/labels.nii.gz");
  const Volume seg = read_label_volume(out + "/seg.dcm", read_volume(series).grid());
  EXPECT_TRUE(torch::equal(nifti.data, seg.data));
  // --format rtstruct makes -o's .dcm an RTSTRUCT.
  r = run_repux("predict -m " + model + " -i " + series + " -o " + out + "/only.dcm --format rtstruct");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(repux::test::dumped(out + "/only.dcm", "0008,0060").at(0), "RTSTRUCT");

  // NIfTI input: a SEG needs --reference; refused, and the NIfTI asked for beside it is not written.
  r = run_repux("convert " + series + " -o " + dir.file("ct.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_repux("predict -m " + model + " -i " + dir.file("ct.nii.gz") + " -o " + dir.file("a.nii.gz") + " -o " + dir.file("a.dcm"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--reference"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("a.nii.gz")));
  r = run_repux("predict -m " + model + " -i " + dir.file("ct.nii.gz") + " --reference " + series + " -o " + dir.file("a.dcm") +
                " --format rtstruct");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(repux::test::dumped(dir.file("a.dcm"), "0008,0060").at(0), "RTSTRUCT");
}
