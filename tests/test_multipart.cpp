// The multipart/related reader of DICOMweb answers, on Orthanc's own WADO-RS answers
// (fuzz/corpus/multipart, written by fuzz/make_multipart_seeds.sh): the same parts however the bytes
// are split, a body cut anywhere refused, the bounds kept.
#include "repux/error.h"
#include "repux/io/multipart.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace repux;
using repux::test::data_path;
using repux::test::error_of;

namespace {

struct Answer {
  std::string content_type, body;
};

Answer orthanc_answer(const std::string& name) {
  std::ifstream in(data_path("../../fuzz/corpus/multipart/" + name), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string all = s.str();
  const auto newline = all.find('\n');
  return {all.substr(0, newline), all.substr(newline + 1)};
}

// The parts of `body` fed `chunk` bytes at a time; finish() called.
std::vector<std::string> parts_of(const Answer& a, size_t chunk, MultipartLimits limits = {}) {
  std::vector<std::string> parts;
  MultipartHandlers h;
  h.begin_part = [&](const std::map<std::string, std::string>& headers) {
    EXPECT_EQ(headers.at("content-type"), "application/dicom");
    parts.emplace_back();
  };
  h.part_data = [&](const char* data, size_t n) { parts.back().append(data, n); };
  MultipartReader reader(multipart_boundary(a.content_type), h, "answer", limits);
  for (size_t at = 0; at < a.body.size(); at += chunk) reader.feed(a.body.data() + at, std::min(chunk, a.body.size() - at));
  reader.finish();
  return parts;
}

}  // namespace

TEST(Multipart, OrthancsAnswerGivesItsDicomInstancesHoweverItIsSplit) {
  const Answer a = orthanc_answer("orthanc_series");
  const auto whole = parts_of(a, a.body.size());
  ASSERT_EQ(whole.size(), 3u);  // the seed's three slices
  for (const auto& part : whole) {
    ASSERT_GT(part.size(), 132u);
    EXPECT_EQ(part.substr(128, 4), "DICM");  // each part a DICOM file, from its preamble to its last byte
    EXPECT_EQ(part.size() % 2, 0u);          // DICOM files have even lengths: no stray CRLF kept
  }
  for (size_t chunk : {1, 2, 3, 7, 64, 1000}) EXPECT_EQ(parts_of(a, chunk), whole) << chunk;
}

TEST(Multipart, ABodyCutAnywhereIsRefused) {
  const Answer a = orthanc_answer("orthanc_instance");
  for (size_t cut = 0; cut < a.body.size(); ++cut) {
    const Answer shorter{a.content_type, a.body.substr(0, cut)};
    const std::string e = error_of([&] { parts_of(shorter, 97); });
    EXPECT_FALSE(e.empty()) << "a body cut at " << cut << " of " << a.body.size() << " bytes was accepted";
  }
}

TEST(Multipart, BoundariesAndBounds) {
  EXPECT_EQ(multipart_boundary("multipart/related; type=\"application/dicom\"; boundary=abc-1"), "abc-1");
  EXPECT_EQ(multipart_boundary("Multipart/Related; boundary=\"a;b c\"; type=\"application/dicom\""), "a;b c");
  EXPECT_NE(error_of([] { multipart_boundary("application/dicom"); }).find("expected a multipart body"), std::string::npos);
  EXPECT_NE(error_of([] { multipart_boundary("multipart/related; type=x"); }).find("no boundary"), std::string::npos);
  const Answer a = orthanc_answer("orthanc_series");
  MultipartLimits small;
  small.max_part = 100;
  EXPECT_NE(error_of([&] { parts_of(a, 50, small); }).find("exceeds 100 bytes"), std::string::npos);
  MultipartLimits few;
  few.max_parts = 2;
  EXPECT_NE(error_of([&] { parts_of(a, 50, few); }).find("more than 2 multipart parts"), std::string::npos);
  const Answer endless{"multipart/related; boundary=b", "--b\r\nContent-Type: application/dicom" + std::string(20000, 'x')};
  EXPECT_NE(error_of([&] { parts_of(endless, 512); }).find("headers exceed"), std::string::npos);
}
