// NIfTI reading and writing against files and values written by nibabel, and the real Colin27 MRI.
#include "repux/error.h"
#include "repux/io/geometry.h"
#include "repux/io/nifti.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace repux;
using repux::test::data_path;

namespace {

const std::string kColin = "/usr/share/mricron/templates/ch2better.nii.gz";

// nibabel's data in C order over (i, j, k) equals our [D, H, W] tensor flattened.
void expect_data(const torch::Tensor& ours, const nlohmann::json& expected, double tol) {
  auto want = repux::test::tensor_from_json(expected);
  auto got = ours.to(torch::kFloat64).flatten();
  ASSERT_EQ(got.numel(), want.numel());
  EXPECT_LE((got - want).abs().max().item<double>(), tol);
}

}  // namespace

TEST(Nifti, MatchesNibabelOnEveryFixture) {
  const auto cases = repux::test::read_json(data_path("nifti/expected.json"));
  ASSERT_GE(cases.size(), 8u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["file"].get<std::string>());
    const Volume v = read_nifti(data_path("nifti/" + c["file"].get<std::string>()));
    const auto shape = v.spatial_shape();
    EXPECT_EQ(std::vector<int64_t>(shape.begin(), shape.end()), c["shape"].get<std::vector<int64_t>>());
    EXPECT_TRUE(torch::allclose(v.affine, repux::test::affine_from_json(c["affine"]), 1e-6, 1e-5)) << v.affine;
    EXPECT_EQ(orientation_code(v.affine), c["axcodes"].get<std::string>());
    EXPECT_EQ(enum_name(v.sample_type), c["datatype"].get<std::string>());
    ASSERT_NE(nifti_details(v), nullptr);
    EXPECT_EQ(nifti_details(v)->qform_code, c["qform_code"].get<int>());
    EXPECT_EQ(nifti_details(v)->sform_code, c["sform_code"].get<int>());
    expect_data(v.data, c["data"], 1e-5 * std::max(1.0, v.data.abs().max().item<double>()));
  }
}

TEST(Nifti, WriteThenReadKeepsDataGeometryAndCodes) {
  repux::test::TempDir dir;
  const auto cases = repux::test::read_json(data_path("nifti/expected.json"));
  for (const auto& c : cases) {
    const std::string name = c["file"].get<std::string>();
    SCOPED_TRACE(name);
    const Volume v = read_nifti(data_path("nifti/" + name));
    write_nifti(v, dir.file(name));
    const Volume back = read_nifti(dir.file(name));
    EXPECT_TRUE(torch::equal(back.data, v.data));
    EXPECT_TRUE(torch::allclose(back.affine, v.affine, 1e-6, 1e-5));
    EXPECT_EQ(back.sample_type, v.sample_type);
    EXPECT_EQ(nifti_details(back)->qform_code, nifti_details(v)->qform_code);
    EXPECT_EQ(nifti_details(back)->sform_code, nifti_details(v)->sform_code);
    EXPECT_EQ(nifti_details(back)->version, nifti_details(v)->version);
  }
}

TEST(Nifti, RealColin27Mri) {
  if (!std::filesystem::exists(kColin)) GTEST_SKIP() << "mricron-data is not installed";
  const Volume v = read_nifti(kColin);
  EXPECT_EQ(v.spatial_shape(), (std::array<int64_t, 3>{301, 370, 316}));
  for (double s : v.spacing()) EXPECT_DOUBLE_EQ(s, 0.5);
  // As stored in the file's sform (checked with nibabel: 0.5 mm diagonal, origin -75, -107, -69.5).
  auto expected = torch::tensor({0.5, 0.0, 0.0, -75.0, 0.0, 0.5, 0.0, -107.0, 0.0, 0.0, 0.5, -69.5, 0.0, 0.0, 0.0, 1.0},
                                torch::kFloat64).reshape({4, 4});
  EXPECT_TRUE(torch::equal(v.affine, expected)) << v.affine;
  EXPECT_EQ(v.sample_type, SampleType::UInt8);

  repux::test::TempDir dir;
  write_nifti(v, dir.file("colin.nii.gz"));
  const Volume back = read_nifti(dir.file("colin.nii.gz"));
  EXPECT_TRUE(torch::equal(back.data, v.data));
  EXPECT_TRUE(torch::equal(back.affine, v.affine));
  EXPECT_EQ(nifti_details(back)->qform_code, nifti_details(v)->qform_code);
  EXPECT_EQ(nifti_details(back)->sform_code, nifti_details(v)->sform_code);
  EXPECT_EQ(back.sample_type, v.sample_type);
}

TEST(Nifti, BadInputsGiveOneLineErrorsNamingTheFile) {
  repux::test::TempDir dir;
  const std::string truncated = dir.file("truncated.nii.gz");
  {
    std::ifstream in(data_path("nifti/oblique_lps_int16_scaled.nii.gz"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const std::string not_nifti = dir.file("notes.nii");
  std::ofstream(not_nifti) << "this is not an image\n";
  const std::pair<std::string, std::string> cases[] = {
      {dir.file("missing.nii.gz"), "not found"},
      {not_nifti, "not a readable NIfTI"},
      {truncated, "truncated"},
      {data_path("nifti/bad_zero_dim.nii"), "size 0"},
      {data_path("nifti/bad_negative_dim.nii"), "size -3"},
      {data_path("nifti/bad_4d_channels.nii.gz"), "3 volumes"},
      {data_path("nifti/bad_nan.nii"), "NaN"},
      // Found by fuzzing: a NIfTI-2 header whose sizeof_hdr alone is byte-swapped crashed nifti_clib.
      {data_path("nifti/fuzz_nifti2_swapped_size_field.nii"), "dimensions, expected 1 to 7"},
  };
  for (const auto& [path, message] : cases) {
    SCOPED_TRACE(path);
    try {
      read_nifti(path);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(message), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(Nifti, ChannelsCanBeAllowed) {
  const Volume v = read_nifti(data_path("nifti/bad_4d_channels.nii.gz"), allowing_channels());
  EXPECT_EQ(v.data.sizes(), (torch::IntArrayRef{3, 7, 5, 4}));
}

TEST(Nifti, WriteRefusesValuesOutsideTheDatatypeAndLeavesNoFile) {
  repux::test::TempDir dir;
  Volume v = read_nifti(data_path("nifti/las_int8.nii"));
  v.data = v.data * 10;  // beyond int8
  EXPECT_THROW(write_nifti(v, dir.file("out.nii")), Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  EXPECT_THROW(write_nifti(v, dir.file("no/such/dir/out.nii")), Error);
}

TEST(Cli, InfoPrintsGeometryAndFailsCleanly) {
  auto ok = repux::test::run_repux("info " + data_path("nifti/oblique_lps_int16_scaled.nii.gz"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("7 x 5 x 4"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("orientation: LPS"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("int16"), std::string::npos) << ok.output;
  auto bad = repux::test::run_repux("info /no/such/file.nii.gz");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(bad.output, "repux: error: /no/such/file.nii.gz: file not found\n");
}

// A label map held as uint8 (as predictions are) and large enough to be converted in several pieces
// (a few slices at a time): the file holds every value at its place; a value beyond uint8 in the last
// piece alone is refused, naming the file, and nothing is left behind.
TEST(Nifti, LargeIntegerLabelMapsWrittenPieceByPiece) {
  repux::test::TempDir dir;
  Volume v;
  v.data = (torch::arange(1200 * 1100 * 5, torch::kInt64).view({1200, 1100, 5}) % 251).to(torch::kUInt8);
  v.affine = torch::diag(torch::tensor({0.8, 0.8, 2.0, 1.0}, torch::kFloat64));
  v.sample_type = SampleType::UInt8;
  write_nifti(v, dir.file("labels.nii.gz"));
  const Volume back = read_nifti(dir.file("labels.nii.gz"));
  EXPECT_EQ(back.sample_type, SampleType::UInt8);
  EXPECT_TRUE(torch::equal(back.data, v.data.to(torch::kFloat32)));
  Volume wide = v;
  wide.data = v.data.to(torch::kInt16);
  wide.data[1199][1099][4] = 300;
  try {
    write_nifti(wide, dir.file("wide.nii.gz"));
    ADD_FAILURE() << "300 was written as uint8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wide.nii.gz"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("300"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("wide.nii.gz")));
}
