// DICOM in and SEG out, against other tools: series are written by plastimatch (from NIfTI volumes),
// changed with DCMTK's command-line tools (dcmodify, dcmcjpls, dcmcrle), and repux's reading of each
// is compared with dcm2niix's NIfTI of the same series. SEGs that repux writes must pass dciodvfy
// (dicom3tools) and read back to the same labels. `make test` installs these tools.
#include "repux/data/synth.h"
#include "repux/io/dicom_seg.h"
#include "repux/io/dicom_series.h"
#include "repux/io/nifti.h"
#include "repux/io/volume_file.h"
#include "dicom_tools.h"
#include "tiny_model.h"
#include "viewer_page_reading.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

using namespace repux;
using repux::test::arg;
using repux::test::dumped;
using repux::test::error_of_reading;
using repux::test::files_in;
using repux::test::plastimatch_series;
using repux::test::shell;
using repux::test::TempDir;
namespace fs = std::filesystem;

namespace {

Volume dcm2niix_volume(const TempDir& dir, const std::string& series, const std::string& name) {
  const std::string out = dir.file(name + "_dcm2niix");
  fs::create_directories(out);
  shell("dcm2niix -o " + arg(out) + " -f ref -z n -b n " + arg(series));
  return read_volume(out + "/ref.nii");
}

torch::Tensor oblique_affine(double degrees, std::array<double, 3> spacing, std::array<double, 3> origin) {
  const double c = std::cos(degrees * M_PI / 180), s = std::sin(degrees * M_PI / 180);
  // A rotation about z then x, so that no voxel axis is parallel to a world axis.
  torch::Tensor rz = torch::tensor({c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64).reshape({3, 3});
  torch::Tensor rx = torch::tensor({1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c}, torch::kFloat64).reshape({3, 3});
  torch::Tensor a = torch::eye(4, torch::kFloat64);
  a.slice(0, 0, 3).slice(1, 0, 3).copy_(torch::matmul(rx, rz) * torch::tensor({spacing[0], spacing[1], spacing[2]}, torch::kFloat64));
  for (int r = 0; r < 3; ++r) a[r][3] = origin[r];
  return a;
}

// Two volumes that must hold the same voxels at the same world positions, whatever their axis order:
// inv(b.affine) x a.affine is a signed permutation whose translation fits the flips, and b's data is
// a's with those axes permuted and flipped.
void expect_same_voxels(const Volume& a, const Volume& b, double value_tolerance = 0) {
  const torch::Tensor m = torch::matmul(torch::inverse(b.affine), a.affine);
  const torch::Tensor rounded = m.round();
  ASSERT_LT((m - rounded).abs().max().item<double>(), 2e-3) << "the grids do not coincide:\n" << m;
  std::vector<int64_t> order(3);
  torch::Tensor data = a.data;
  const auto as = a.spatial_shape();
  for (int64_t bi = 0; bi < 3; ++bi) {
    int64_t ai = -1;
    for (int64_t j = 0; j < 3; ++j) {
      if (std::abs(rounded[bi][j].item<double>()) == 1) ai = j;
    }
    ASSERT_GE(ai, 0) << "not a permutation:\n" << m;
    order[bi] = ai;
    const bool flipped = rounded[bi][ai].item<double>() < 0;
    EXPECT_EQ(rounded[bi][3].item<double>(), flipped ? as[ai] - 1 : 0) << "the grids are shifted:\n" << m;
    if (flipped) data = data.flip(ai);
  }
  data = data.permute(order);
  ASSERT_EQ(data.sizes(), b.data.sizes());
  EXPECT_LE((data - b.data).abs().max().item<double>(), value_tolerance);
}

std::array<double, 3> position_of(const std::string& file) {
  const std::string text = dumped(file, "0020,0032").at(0);
  std::array<double, 3> p{};
  std::sscanf(text.c_str(), "%lf\\%lf\\%lf", &p[0], &p[1], &p[2]);
  return p;
}

}  // namespace

TEST(DicomSeries, ObliqueAnisotropicSeriesEqualsDcm2niix) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "oblique", oblique_affine(20, {0.8, 0.9, 2.5}, {-10, 12, 5}), {20, 24, 10});
  const Volume repux_read = read_volume(series);
  const Volume reference = dcm2niix_volume(dir, series, "oblique");
  expect_same_voxels(repux_read, reference);
  const auto spacing = repux_read.spacing();
  EXPECT_NEAR(spacing[0], 0.8, 1e-4);
  EXPECT_NEAR(spacing[1], 0.9, 1e-4);
  EXPECT_NEAR(spacing[2], 2.5, 1e-4);
  const DicomSeriesDetails* details = dicom_series_details(repux_read);
  ASSERT_NE(details, nullptr);
  EXPECT_EQ(details->sop_instance_uids.size(), 10u);
  EXPECT_EQ(details->modality, "CT");
}

TEST(DicomSeries, FeetFirstSeriesEqualsDcm2niix) {
  TempDir dir;
  // Feet first: the patient's left on the image's left and slices running towards the head.
  torch::Tensor affine = torch::diag(torch::tensor({-0.7, 0.7, -3.0, 1.0}, torch::kFloat64));
  affine[0][3] = 90;
  affine[2][3] = 200;
  const std::string series = plastimatch_series(dir, "ffs", affine, {16, 18, 8}, "ffs");
  EXPECT_EQ(dumped(files_in(series).front(), "0018,5100").at(0), "FFS");
  expect_same_voxels(read_volume(series), dcm2niix_volume(dir, series, "ffs"));
}

TEST(DicomSeries, SlicesAreOrderedByPositionNotByFileNameOrInstanceNumber) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "ordered", oblique_affine(10, {1, 1, 2}, {0, 0, 0}), {12, 12, 9});
  const Volume ordered = read_volume(series);
  const std::string shuffled = dir.file("shuffled");
  fs::create_directories(shuffled);
  const auto files = files_in(series);
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string target = shuffled + "/" + std::to_string((i * 5) % files.size()) + "_slice";  // no .dcm: names do not matter
    fs::copy_file(files[i], target);
    shell("dcmodify -nb -m '(0020,0013)=" + std::to_string((i * 7) % 11) + "' " + arg(target));
  }
  const Volume read = read_volume(shuffled);
  EXPECT_TRUE(torch::equal(read.data, ordered.data));
  EXPECT_TRUE(torch::allclose(read.affine, ordered.affine));
  expect_same_voxels(read, dcm2niix_volume(dir, shuffled, "shuffled"));
  // The same series behind a DICOMDIR (DCMTK's dcmmkdir wants ISO 9660 file names).
  const std::string media = dir.file("media");
  fs::create_directories(media + "/IMAGES");
  for (size_t i = 0; i < files.size(); ++i) fs::copy_file(files[i], fmt::format("{}/IMAGES/IM{:06d}", media, i));
  shell("cd " + arg(media) + " && dcmmkdir --invent --recurse IMAGES");
  EXPECT_TRUE(torch::equal(read_volume(media + "/DICOMDIR").data, ordered.data));
}

TEST(DicomSeries, RescaleSlopeIsApplied) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "slope", torch::diag(torch::tensor({0.9, 0.9, 2.0, 1.0}, torch::kFloat64)), {10, 12, 6});
  const Volume before = read_volume(series);
  const double intercept = std::stod(dumped(files_in(series).front(), "0028,1052").at(0));
  for (const auto& f : files_in(series)) shell("dcmodify -nb -m '(0028,1053)=2.5' " + arg(f));
  const Volume after = read_volume(series);
  // stored = before - intercept, now read as 2.5 x stored + intercept: computed by hand here.
  EXPECT_LE((after.data - ((before.data - intercept) * 2.5 + intercept)).abs().max().item<double>(), 1e-3);
  expect_same_voxels(after, dcm2niix_volume(dir, series, "slope"), 1e-3);
}

TEST(DicomSeries, CompressedSeriesDecodeToTheSameValues) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "plain", torch::diag(torch::tensor({1.0, 1.0, 1.5, 1.0}, torch::kFloat64)), {16, 16, 5});
  const Volume plain = read_volume(series);
  for (const auto& [tool, uid] : {std::pair<std::string, std::string>{"dcmcjpls", "1.2.840.10008.1.2.4.80"},  // JPEG-LS lossless
                                  {"dcmcrle", "1.2.840.10008.1.2.5"},                                       // RLE
                                  {"dcmcjpeg +e1", "1.2.840.10008.1.2.4.70"}}) {                           // JPEG lossless SV1
    const std::string out = dir.file(tool.substr(0, tool.find(' ')));
    fs::create_directories(out);
    for (const auto& f : files_in(series)) shell(tool + " " + arg(f) + " " + arg(out + "/" + fs::path(f).filename().string()));
    const auto xfer = dumped(files_in(out).front(), "0002,0010");
    ASSERT_EQ(xfer.size(), 1u) << tool;
    EXPECT_EQ(xfer[0], uid) << tool;
    const Volume decoded = read_volume(out);
    EXPECT_TRUE(torch::equal(decoded.data, plain.data)) << tool;
  }
}

TEST(DicomSeries, BadSeriesGiveOneLineErrors) {
  TempDir dir;
  const torch::Tensor affine = torch::diag(torch::tensor({1.0, 1.0, 2.0, 1.0}, torch::kFloat64));
  const std::string good = plastimatch_series(dir, "good", affine, {8, 8, 6});
  const auto files = files_in(good);
  auto variant = [&](const std::string& name) {
    const std::string d = dir.file(name);
    fs::copy(good, d);
    return d;
  };
  auto expect_error = [&](const std::string& folder, const std::string& expected) {
    const std::string e = error_of_reading(folder);
    EXPECT_NE(e.find(expected), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    const auto r = repux::test::run_repux("info " + arg(folder));
    EXPECT_EQ(r.exit_code, 1) << r.output;
  };
  {
    const std::string d = variant("missing");
    fs::remove(d + "/" + fs::path(files[3]).filename().string());
    expect_error(d, "1 slice(s) missing between");
  }
  {
    const std::string d = variant("duplicate");
    fs::copy_file(files[2], d + "/copy_of_slice");
    expect_error(d, "two slices at the same position");
  }
  {
    const std::string d = variant("two_series");
    plastimatch_series(dir, "other", affine, {8, 8, 6});
    for (const auto& f : files_in(dir.file("other"))) fs::copy_file(f, d + "/other_" + fs::path(f).filename().string());
    expect_error(d, "2 CT/MR series, choose one with --series");
    VolumeReadOptions o;
    o.dicom_series = dumped(files[0], "0020,000e").at(0);
    EXPECT_EQ(read_volume(d, o).spatial_shape(), (std::array<int64_t, 3>{8, 8, 6}));
  }
  {
    const std::string d = variant("tilted");
    for (const auto& f : files_in(d)) {  // 15 degrees: each slice shifted along y by tan(15) x its height
      auto p = position_of(f);
      p[1] += std::tan(15 * M_PI / 180) * p[2];
      shell(fmt::format("dcmodify -nb -m '(0020,0032)={:.6f}\\{:.6f}\\{:.6f}' {}", p[0], p[1], p[2], arg(f)));
    }
    expect_error(d, "gantry tilt of 15.00 degrees");
    VolumeReadOptions o;
    o.gantry_tilt = GantryTilt::Resample;
    const Volume v = read_volume(d, o);
    const torch::Tensor a = v.affine.slice(0, 0, 3).slice(1, 0, 3);
    EXPECT_TRUE(torch::allclose(torch::matmul(a.t(), a), torch::diag(torch::tensor({1.0, 1.0, 4.0}, torch::kFloat64)), 1e-6, 1e-6)) << v.affine;
    EXPECT_TRUE(dicom_series_details(v)->tilt_resampled);
  }
  {
    const std::string d = variant("with_readme");
    std::ofstream(d + "/README.txt") << "exported by a PACS\n";
    EXPECT_TRUE(torch::equal(read_volume(d).data, read_volume(good).data));
  }
  {
    const std::string d = variant("junk");
    std::ofstream junk(d + "/junk.dcm", std::ios::binary);
    junk << std::string(128, '\0') << "DICM" << std::string(40, '\x7f');
    junk.close();
    expect_error(d, "junk.dcm: not a readable DICOM file");
  }
  {
    const std::string d = variant("truncated");
    const std::string victim = d + "/" + fs::path(files[1]).filename().string();
    fs::resize_file(victim, fs::file_size(victim) - 100);
    expect_error(d, fs::path(files[1]).filename().string());
  }
  {
    const std::string d = variant("multiframe");
    shell("dcmodify -nb -i '(0028,0008)=2' " + arg(d + "/" + fs::path(files[0]).filename().string()));
    expect_error(d, "multi-frame object");
  }
  expect_error(dir.file("nothing_here"), "not found");
}

// A label map of a series, written as a SEG: valid by dciodvfy, references the series, reads back.
// `repux view` of a DICOM series (plastimatch's) and a SEG on it: the page holds the series as repux
// reads it (voxels and world geometry) and the SEG on the series' grid, and names the classes by the
// SEG's segment labels.
TEST(DicomSeg, ViewerPageOfASeriesAndItsSegHoldsWhatRepuxReads) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "ct", oblique_affine(10, {0.9, 0.9, 2.5}, {4, -2, 7}), {20, 18, 6});
  const Volume image = read_volume(series);
  Volume labels = repux::test::empty_labels_on(image, {"background", "liver", "spleen"});
  labels.data.slice(0, 3, 10).slice(1, 2, 8).slice(2, 1, 4).fill_(1);
  labels.data.slice(0, 12, 18).slice(1, 9, 16).slice(2, 2, 5).fill_(2);
  write_volume(labels, dir.file("seg.dcm"));
  const auto r = repux::test::run_repux("view -i " + series + " -s " + dir.file("seg.dcm") + " -o " + dir.file("page.html"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto view = repux::test::page_view(dir.file("page.html"));
  ASSERT_EQ(view["layers"].size(), 2u);
  const Volume shown_image = repux::test::page_layer(view, 0, dir.file("image.nii.gz"));
  const Volume shown_labels = repux::test::page_layer(view, 1, dir.file("labels.nii.gz"));
  EXPECT_TRUE(torch::equal(shown_image.data.to(torch::kFloat64), image.data.to(torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(shown_image.affine, image.affine, 0, 1e-4)) << shown_image.affine << image.affine;
  EXPECT_TRUE(torch::equal(shown_labels.data.to(torch::kInt64), labels.data.to(torch::kInt64)));
  EXPECT_EQ(view["classes"][0]["name"], "liver");
  EXPECT_EQ(view["classes"][1]["name"], "spleen");
  EXPECT_TRUE(view["ct"].get<bool>());
}

TEST(DicomSeg, PassesDciodvfyReferencesItsSeriesAndReadsBack) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "ct", oblique_affine(15, {0.8, 0.8, 2.0}, {5, -3, 10}), {24, 20, 8});
  const Volume image = read_volume(series);
  Volume labels = repux::test::empty_labels_on(image, {"background", "liver", "spleen", "tumour"});
  labels.data.slice(0, 4, 12).slice(1, 3, 9).slice(2, 2, 5).fill_(1);    // liver, slices 2-4
  labels.data.slice(0, 14, 20).slice(1, 10, 18).slice(2, 3, 7).fill_(3);  // tumour, slices 3-6; no spleen at all
  const std::string seg = dir.file("seg.dcm");
  write_volume(labels, seg);

  const std::string report = shell("dciodvfy " + arg(seg));
  EXPECT_EQ(report.find("Error"), std::string::npos) << report;

  const Volume on_grid = read_label_volume(seg, image.grid());
  EXPECT_TRUE(torch::equal(on_grid.data, labels.data));
  EXPECT_TRUE(torch::allclose(on_grid.affine, image.affine));
  EXPECT_EQ(on_grid.label_names, labels.label_names);
  // Alone, the SEG spans the slices that hold labels (2-6), at their world positions.
  const Volume alone = read_volume(seg);
  EXPECT_EQ(alone.spatial_shape(), (std::array<int64_t, 3>{24, 20, 5}));
  Volume cropped = labels;
  cropped.data = labels.data.slice(2, 2, 7);
  cropped.affine = labels.affine.clone();
  cropped.affine.slice(0, 0, 3).select(1, 3).add_(2 * labels.affine.slice(0, 0, 3).select(1, 2));
  expect_same_voxels(alone, cropped);

  const DicomSeriesDetails& source = *dicom_series_details(image);
  EXPECT_EQ(dumped(seg, "0020,000d").at(0), source.study_uid);
  EXPECT_EQ(dumped(seg, "0020,0052").at(0), source.frame_of_reference_uid);
  EXPECT_EQ(dumped(seg, "0008,0060").at(0), "SEG");
  const auto referenced_series = dumped(seg, "0008,1115");
  const auto series_uids = dumped(seg, "0020,000e");
  EXPECT_NE(std::find(series_uids.begin(), series_uids.end(), source.series_uid), series_uids.end());
  const std::set<std::string> instances(source.sop_instance_uids.begin(), source.sop_instance_uids.end());
  const auto references = dumped(seg, "0008,1155");
  EXPECT_FALSE(references.empty());
  for (const auto& r : references) EXPECT_TRUE(instances.count(r)) << r;
  const auto meanings = dumped(seg, "0008,0104");
  EXPECT_NE(std::find(meanings.begin(), meanings.end(), "Liver"), meanings.end());
  EXPECT_NE(std::find(meanings.begin(), meanings.end(), "Neoplasm"), meanings.end());
}

// Labels on `image`'s grid (and its source series): label 1 on slice 1, background elsewhere.
static Volume slice_one_labelled(const Volume& image) {
  Volume labels;
  labels.data = torch::zeros_like(image.data);
  labels.data.slice(2, 1, 2).fill_(1);
  labels.affine = image.affine.clone();
  labels.format_details = image.format_details;
  return labels;
}

// A source whose UIDs break PS3.5's rule (a component with a leading zero, as plastimatch writes about
// one series in ten) still gets its SEG, in its own study: the UIDs are copied as they are.
TEST(DicomSeg, KeepsTheSourcesUidsEvenWhenTheyBreakTheRules) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "ct", torch::eye(4, torch::kFloat64), {8, 8, 3});
  const std::string study = "1.2.826.0.1.3680043.8.274.1.1.8323328.18724.1795690636.022562";
  shell("dcmodify -nb -m '(0020,000d)=" + study + "' " + arg(series) + "/*");
  const Volume image = read_volume(series);
  const Volume labels = slice_one_labelled(image);
  const std::string seg = dir.file("seg.dcm");
  write_volume(labels, seg);
  EXPECT_EQ(dumped(seg, "0020,000d").at(0), study);
  EXPECT_TRUE(torch::equal(read_label_volume(seg, image.grid()).data, labels.data));
}

// A SEG written with a UID key has UIDs derived from it: the same key the same SeriesInstanceUID and
// SOPInstanceUID (a node's SEG of a resent series replaces the first), another key or none new ones.
TEST(DicomSeg, AUidKeyGivesTheSameSegUidsEveryTime) {
  TempDir dir;
  const std::string series = plastimatch_series(dir, "ct", torch::eye(4, torch::kFloat64), {8, 8, 3});
  const Volume image = read_volume(series);
  const Volume labels = slice_one_labelled(image);
  auto uids = [&](const std::string& key, const std::string& name) {
    VolumeWriteOptions o;
    o.seg_uid_key = key;
    write_volume(labels, dir.file(name), o);
    return std::make_pair(dumped(dir.file(name), "0008,0018").at(0), dumped(dir.file(name), "0020,000e").back());  // the last: after the referenced series'
  };
  const auto first = uids("NODE:1.2.3", "a.dcm"), again = uids("NODE:1.2.3", "b.dcm"), other = uids("NODE:1.2.4", "c.dcm");
  const auto fresh1 = uids("", "d.dcm"), fresh2 = uids("", "e.dcm");
  EXPECT_EQ(first, again);
  EXPECT_NE(first.first, other.first);
  EXPECT_NE(first.second, other.second);
  EXPECT_NE(first.first, first.second);
  EXPECT_NE(fresh1.first, fresh2.first);
  EXPECT_NE(fresh1.second, fresh2.second);
  EXPECT_EQ(first.first.rfind("2.25.", 0), 0u) << first.first;
  EXPECT_LE(first.first.size(), 64u);
  const std::string report = shell("dciodvfy " + arg(dir.file("a.dcm")));
  EXPECT_EQ(report.find("Error"), std::string::npos) << report;
}

TEST(DicomSeg, LabelsWithoutASourceSeriesAreRefused) {
  TempDir dir;
  Volume labels;
  labels.data = torch::zeros({4, 4, 4});
  labels.affine = torch::eye(4, torch::kFloat64);
  const std::string e = repux::test::error_of([&] { write_volume(labels, dir.file("x.dcm")); });
  EXPECT_NE(e.find("refers to its source series"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.file("x.dcm")));
}

// A folder of DICOM studies (one per subfolder, as an archive export holds them) predicted into an
// output folder: one label file per study, each the labels of predicting that series alone; with
// --format, SEGs named after the studies.
TEST(DicomSeg, PredictAFolderOfStudiesIntoAnOutputFolder) {
  TempDir dir;
  fs::create_directories(dir.file("studies"));
  const std::vector<std::string> names{"anna", "bert"};
  for (size_t i = 0; i < names.size(); ++i) {
    const auto affine = torch::diag(torch::tensor({2.0, 2.0, 3.0, 1.0}, torch::kFloat64));
    fs::rename(plastimatch_series(dir, names[i], affine, {20, 18, 8}, "hfs", i + 1), dir.file("studies/" + names[i]));
  }
  Plan plan;
  plan.network.out_channels = 4;
  plan.class_names = synth_class_names();
  plan.preprocessing.spacing = std::array<double, 3>{3.0, 3.0, 3.0};
  const std::string model = repux::test::write_tiny_model(dir, plan, "tiny.repux");
  auto r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("studies") + " -o " + dir.file("segs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 case(s): 2 predicted"), std::string::npos) << r.output;
  r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("studies") + " -o " + dir.file("segs_dicom") + " --format seg");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& name : names) {
    r = repux::test::run_repux("predict -m " + model + " -i " + dir.file("studies/" + name) + " -o " + dir.file(name + "_alone.nii.gz"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const Volume alone = read_volume(dir.file(name + "_alone.nii.gz"));
    EXPECT_TRUE(torch::equal(read_volume(dir.file("segs/" + name + ".nii.gz")).data, alone.data)) << name;
    EXPECT_TRUE(torch::equal(read_label_volume(dir.file("segs_dicom/" + name + ".dcm"), alone.grid()).data, alone.data)) << name;
  }
}

// As a user runs it: predict on a series writes a SEG on the series' grid, the same labels as the
// NIfTI output; evaluate takes the SEG as ground truth; convert goes both ways.
TEST(DicomSeg, PredictConvertAndEvaluateOnADicomSeries) {
  TempDir dir;
  SynthOptions so;
  so.min_size = 30;
  so.max_size = 36;
  auto c = make_synthetic_case(7, so);
  c.image.sample_type = SampleType::Int16;
  write_nifti(c.image, dir.file("case.nii.gz"));
  const std::string series = dir.file("case_dicom");
  shell("plastimatch convert --input " + arg(dir.file("case.nii.gz")) + " --output-dicom " + arg(series));
  Plan plan;
  plan.network.out_channels = 4;
  plan.class_names = synth_class_names();
  plan.preprocessing.spacing = std::array<double, 3>{3.0, 3.0, 3.0};
  const std::string model = repux::test::write_tiny_model(dir, plan, "tiny.repux");

  fs::create_directories(dir.file("pred"));
  fs::create_directories(dir.file("gt"));
  auto r = repux::test::run_repux("predict -m " + model + " -i " + series + " -o " + dir.file("gt/case.dcm"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = repux::test::run_repux("predict -m " + model + " -i " + series + " -o " + dir.file("pred/case.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume image = read_volume(series);
  const Volume nifti = read_volume(dir.file("pred/case.nii.gz"));
  const Volume seg = read_label_volume(dir.file("gt/case.dcm"), image.grid());
  EXPECT_TRUE(torch::equal(seg.data, nifti.data));
  EXPECT_TRUE(torch::allclose(nifti.affine, image.affine));
  EXPECT_EQ(shell("dciodvfy " + arg(dir.file("gt/case.dcm"))).find("Error"), std::string::npos);

  r = repux::test::run_repux("evaluate --pred " + dir.file("pred") + " --gt " + dir.file("gt") + " --classes 4 -o " + dir.file("summary.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = repux::test::read_json(dir.file("summary.json"));
  for (const auto& [name, metrics] : summary["cases"][0]["classes"].items()) {
    if (!metrics["dice"].is_null()) EXPECT_DOUBLE_EQ(metrics["dice"].get<double>(), 1.0) << name;
  }

  r = repux::test::run_repux("convert " + series + " -o " + dir.file("series.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_voxels(read_volume(dir.file("series.nii.gz")), image);
  r = repux::test::run_repux("convert " + dir.file("gt/case.dcm") + " --reference " + series + " -o " + dir.file("seg_labels.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(torch::equal(read_volume(dir.file("seg_labels.nii.gz")).data, nifti.data));
  r = repux::test::run_repux("convert " + dir.file("seg_labels.nii.gz") + " --reference " + series + " -o " + dir.file("again.dcm"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(torch::equal(read_label_volume(dir.file("again.dcm"), image.grid()).data, nifti.data));
  r = repux::test::run_repux("convert " + dir.file("seg_labels.nii.gz") + " -o " + dir.file("orphan.dcm"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--reference"), std::string::npos) << r.output;
}
