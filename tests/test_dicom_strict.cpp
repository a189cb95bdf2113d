// Malformed DICOM never becomes a silent wrong value or a memory bomb: series written by plastimatch
// and SEGs written by repux, each altered with DCMTK's dcmodify as a broken scanner, a careless
// anonymiser or an attacker would, must be refused with one line naming the file and the attribute
// (docs/reliability.md, "What repux guarantees"). Each case here was read without complaint, or allocated
// gigabytes, before the readers checked it.
#include "repux/io/dicom_seg.h"
#include "repux/io/dicom_series.h"
#include "dicom_tools.h"

#include <gtest/gtest.h>

#include <filesystem>

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

// Address space for a repux process that may load LibTorch and read small inputs but cannot allocate
// gigabytes.
const std::string kSmallMemory = "ulimit -v 3000000";

torch::Tensor diagonal_affine(double slice_spacing) { return torch::diag(torch::tensor({1.0, 1.0, slice_spacing, 1.0}, torch::kFloat64)); }

std::string copy_of(const TempDir& dir, const std::string& series, const std::string& name) {
  fs::copy(series, dir.file(name));
  return dir.file(name);
}

void modify(const std::string& file, const std::string& change) { shell("dcmodify -nb " + change + " " + arg(file)); }

// The error of `repux info PATH` (run as a program, under a memory limit): one line naming `mentions`.
void expect_refused(const std::string& path, const std::string& mentions) {
  const auto r = repux::test::run_command("bash -c \"" + kSmallMemory + "; exec " + std::string(REPUX_BINARY) + " info '" + path +
                                          "'\" 2>&1 </dev/null");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("repux: error: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(mentions), std::string::npos) << "expected '" << mentions << "' in: " << r.output;
}

// Each (dcmodify arguments, expected error) applied to `victim`, one slice of a copy of the series
// `good`: the copy is refused with an error naming the slice, in-process and by `repux info`.
void expect_each_change_refused(const TempDir& dir, const std::string& good, const std::string& victim,
                                const std::vector<std::pair<std::string, std::string>>& cases) {
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& [change, expected] = cases[k];
    SCOPED_TRACE(change);
    const std::string d = copy_of(dir, good, "variant" + std::to_string(k));
    modify(d + "/" + victim, change);
    const std::string e = error_of_reading(d);
    EXPECT_NE(e.find(expected), std::string::npos) << e;
    EXPECT_NE(e.find(victim), std::string::npos) << "the error names the slice: " << e;
    expect_refused(d, victim);
  }
}

// A SEG written by repux for a plastimatch series: two segments on slices 1-3 of 6.
std::string written_seg(const TempDir& dir, const std::string& series) {
  const Volume image = read_volume(series);
  Volume labels = repux::test::empty_labels_on(image, {"background", "liver", "spleen"});
  labels.data.slice(0, 1, 4).slice(1, 1, 4).slice(2, 1, 3).fill_(1);
  labels.data.slice(0, 5, 7).slice(1, 5, 7).slice(2, 2, 4).fill_(2);
  const std::string seg = dir.file("seg.dcm");
  write_volume(labels, seg);
  return seg;
}

}  // namespace

// Defect 1: a rescale attribute missing, empty or malformed on one slice took intercept 0 (+916 HU
// against its neighbours); a slope of NaN or 0 was read as 1.
TEST(DicomStrict, RescaleIsReadStrictlyOnEverySlice) {
  TempDir dir;
  const std::string good = plastimatch_series(dir, "good", diagonal_affine(2), {8, 8, 6});
  const std::string victim = fs::path(files_in(good)[2]).filename().string();
  ASSERT_FALSE(dumped(files_in(good)[2], "0028,1052").empty()) << "plastimatch writes RescaleIntercept";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"-m '(0028,1052)=abc'", "RescaleIntercept (0028,1052) 'abc' is not one finite decimal number"},
      {"-m '(0028,1052)=1.5x'", "RescaleIntercept (0028,1052) '1.5x'"},
      {"-m '(0028,1052)='", "RescaleIntercept (0028,1052) is missing or empty"},
      {"-e '(0028,1052)'", "RescaleIntercept (0028,1052) is missing or empty"},
      {"-m '(0028,1053)=NaN'", "RescaleSlope (0028,1053) 'NaN' is not one finite decimal number"},
      {"-m '(0028,1053)=0'", "RescaleSlope (0028,1053) is 0"},
  };
  expect_each_change_refused(dir, good, victim, cases);
  // A CT without any rescale attributes has no Hounsfield units to give.
  const std::string none = copy_of(dir, good, "no_rescale");
  for (const auto& f : files_in(none)) modify(f, "-e '(0028,1052)' -e '(0028,1053)'");
  EXPECT_NE(error_of_reading(none).find("a CT slice needs it"), std::string::npos) << error_of_reading(none);
}

// Defect 2: two scans under one SeriesInstanceUID (another frame of reference, positions 1.5 mm
// apart) were merged into one volume alternating between them.
TEST(DicomStrict, TwoScansSharingASeriesUidAreSplitNeverMerged) {
  TempDir dir;
  const std::string first = plastimatch_series(dir, "first", diagonal_affine(3), {8, 8, 5});
  torch::Tensor shifted = diagonal_affine(3);
  shifted[2][3] = 1.5;
  const std::string second = plastimatch_series(dir, "second", shifted, {8, 8, 5}, "hfs", 2);
  const std::string uid = dumped(files_in(first)[0], "0020,000e").at(0);
  const std::string folder = dir.file("both");
  fs::create_directories(folder);
  for (const auto& f : files_in(first)) fs::copy_file(f, folder + "/a_" + fs::path(f).filename().string());
  for (const auto& f : files_in(second)) {
    const std::string copy = folder + "/b_" + fs::path(f).filename().string();
    fs::copy_file(f, copy);
    modify(copy, "-m '(0020,000e)=" + uid + "' -m '(0020,0052)=1.2.3.4.5.6' -m '(0028,1052)=-24'");
  }
  std::string e = error_of_reading(folder);
  EXPECT_NE(e.find("2 CT/MR series, choose one with --series"), std::string::npos) << e;
  EXPECT_NE(e.find(uid + "#1.2.3.4.5.6"), std::string::npos) << e;
  VolumeReadOptions o;
  o.dicom_series = uid;
  e = error_of_reading(folder, o);
  EXPECT_NE(e.find("holds several scans under one SeriesInstanceUID"), std::string::npos) << e;
  // Each scan alone is the series it was, value for value.
  o.dicom_series = uid + "#1.2.3.4.5.6";
  const Volume b = read_volume(folder, o);
  const Volume b_alone = read_volume(second);
  const double original_intercept = std::stod(dumped(files_in(second)[0], "0028,1052").at(0));
  EXPECT_TRUE(torch::allclose(b.data, b_alone.data - original_intercept - 24)) << "values of the second scan";
  EXPECT_TRUE(torch::allclose(b.affine, b_alone.affine));
}

// Defects 3 and 9: pixel attributes that describe other data than is stored (BitsAllocated 8 on 16-bit
// pixels gave a garbage image), and geometry beyond any real image (PixelSpacing 1e300 wrote pixdim inf).
TEST(DicomStrict, PixelAttributesAndGeometryMustDescribeTheData) {
  TempDir dir;
  const std::string good = plastimatch_series(dir, "good", diagonal_affine(2), {8, 8, 6});
  const std::string victim = fs::path(files_in(good)[1]).filename().string();
  const std::vector<std::pair<std::string, std::string>> cases{
      {"-m '(0028,0100)=8' -m '(0028,0101)=8' -m '(0028,0102)=7'", "pixel data holds 128 bytes, expected 64"},
      {"-m '(0028,0100)=8'", "BitsStored (0028,0101) 16, expected 1 to BitsAllocated (8)"},
      {"-e '(0028,0103)'", "PixelRepresentation (0028,0103) is missing"},
      {"-m '(0028,0004)=RGB'", "PhotometricInterpretation (0028,0004) 'RGB'"},
      {"-m '(0028,0030)=1e300\\1'", "PixelSpacing (rows) 1e+300 mm is out of range"},
      {"-m '(0028,0030)=abc\\1'", "PixelSpacing (0028,0030) value 'abc' is not a finite decimal number"},
      {"-m '(0020,0032)=0\\0\\1e300'", "ImagePositionPatient (0, 0, 1e+300) lies beyond"},
  };
  expect_each_change_refused(dir, good, victim, cases);
}

// Defect 4: a frame naming a segment the SEG does not define became that label.
TEST(DicomStrict, SegFrameNamingNoSegmentIsRefused) {
  TempDir dir;
  const std::string seg = written_seg(dir, plastimatch_series(dir, "ct", diagonal_affine(2), {8, 8, 6}));
  ASSERT_NO_THROW(read_volume(seg));
  modify(seg, "-m '(5200,9230)[0].(0062,000a)[0].(0062,000b)=9'");
  const std::string e = error_of_reading(seg);
  EXPECT_NE(e.find("frame 1 names segment 9 (ReferencedSegmentNumber), but the SEG defines 2 segment(s)"), std::string::npos) << e;
  expect_refused(seg, "seg.dcm");
}

// Defects 8 and 9: a SEG's geometry is bounded before its grid is allocated (an 11.5 KB SEG made
// `repux info` allocate 1.5 to 4 GB), and impossible geometry gets one line, not an overflow or
// LibTorch's linear algebra error.
TEST(DicomStrict, SegGeometryIsCheckedBeforeTheGridIsAllocated) {
  TempDir dir;
  const std::string original = written_seg(dir, plastimatch_series(dir, "ct", diagonal_affine(2), {8, 8, 6}));
  const std::string shared = "(5200,9229)[0]", frame1 = "(5200,9230)[0]";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"-m '" + frame1 + ".(0020,9113)[0].(0020,0032)=0\\0\\300000'", "more than a SEG's grid may hold"},
      {"-m '" + frame1 + ".(0020,9113)[0].(0020,0032)=0\\0\\3e6'", "more than a SEG's grid may hold"},
      {"-m '" + frame1 + ".(0020,9113)[0].(0020,0032)=0\\0\\1e300'", "lies beyond"},
      {"-m '" + shared + ".(0028,9110)[0].(0018,0088)=0.0001'", "more than a SEG's grid may hold"},
      {"-m '" + shared + ".(0028,9110)[0].(0018,0088)=1e-300'", "SpacingBetweenSlices 1e-300 mm is out of range"},
      {"-m '" + shared + ".(0028,9110)[0].(0028,0030)=1e300\\1'", "PixelSpacing (rows) 1e+300 mm is out of range"},
      {"-m '" + shared + ".(0020,9116)[0].(0020,0037)=1\\0\\0\\1\\0\\0'", "not two orthogonal unit vectors"},
  };
  int k = 0;
  for (const auto& [change, expected] : cases) {
    SCOPED_TRACE(change);
    const std::string seg = dir.file("seg" + std::to_string(k++) + ".dcm");
    fs::copy_file(original, seg);
    modify(seg, change);
    const std::string e = error_of_reading(seg);
    EXPECT_NE(e.find(expected), std::string::npos) << e;
    expect_refused(seg, fs::path(seg).filename().string());
  }
}
