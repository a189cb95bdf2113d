// EvaluationSummary: the typed result of `repux evaluate`, its JSON and CSV, and the demo's and the
// HTML report's reading of it.
#include "repux/error.h"
#include "repux/eval/evaluation_summary.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace repux;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();

// Two cases, two classes; the spleen is absent from case b's truth (NaN) and missed in case a's
// prediction (HD95 infinite).
EvaluationSummary two_cases() {
  EvaluationSummary s;
  s.class_names = {"liver", "spleen"};
  s.tolerance_mm = 1.5;
  s.cases.push_back({"a.nii.gz", {{0.9, 2.0, 0.8}, {0.0, kInf, 0.0}}});
  s.cases.push_back({"b.nii.gz", {{0.7, 4.0, 0.6}, {kNaN, kNaN, 0.0}}});
  compute_means(s);
  return s;
}

}  // namespace

TEST(EvaluationSummary, MeansSkipWhatIsNotFinite) {
  const EvaluationSummary s = two_cases();
  EXPECT_DOUBLE_EQ(s.mean_per_class[0].dice, 0.8);
  EXPECT_DOUBLE_EQ(s.mean_per_class[0].hd95, 3.0);
  EXPECT_DOUBLE_EQ(s.mean_per_class[1].dice, 0.0);  // case b's NaN skipped
  EXPECT_TRUE(std::isnan(s.mean_per_class[1].hd95));  // inf and NaN: nothing finite
  EXPECT_DOUBLE_EQ(s.mean.dice, 0.4);
  EXPECT_DOUBLE_EQ(s.mean.hd95, 3.0);
  EXPECT_DOUBLE_EQ(s.mean.surface_dice, 0.35);
}

TEST(EvaluationSummary, JsonRoundTripsAndNamesWhatIsMissing) {
  const EvaluationSummary s = two_cases();
  const nlohmann::json j = to_json(s);
  EXPECT_TRUE(j["cases"][0]["classes"]["spleen"]["hd95_mm"].is_null());
  EXPECT_DOUBLE_EQ(j["mean_per_class"]["liver"]["dice"].get<double>(), 0.8);
  const EvaluationSummary back = evaluation_summary_from_json(j);
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.class_names, s.class_names);
  ASSERT_EQ(back.cases.size(), 2u);
  EXPECT_EQ(back.cases[1].name, "b.nii.gz");
  EXPECT_DOUBLE_EQ(back.cases[0].classes[0].hd95, 2.0);
  EXPECT_TRUE(std::isnan(back.cases[1].classes[1].dice));
  EXPECT_DOUBLE_EQ(back.tolerance_mm, 1.5);

  nlohmann::json broken = j;
  broken["cases"][1]["classes"].erase("spleen");
  EXPECT_EQ(test::error_of([&] { evaluation_summary_from_json(broken); }),
            "evaluation summary: case 'b.nii.gz' holds 1 classes, expected 2");
  broken = j;
  broken["mean"]["dice"] = "high";
  EXPECT_EQ(test::error_of([&] { evaluation_summary_from_json(broken); }), "evaluation summary: mean 'dice' is not a number");
}

TEST(EvaluationSummary, CsvHasOneRowPerCaseAndClassThenTheMeans) {
  const std::string csv = evaluation_csv(two_cases());
  EXPECT_EQ(csv,
            "case,class,dice,hd95_mm,surface_dice\n"
            "a.nii.gz,liver,0.900000,2.000000,0.800000\n"
            "a.nii.gz,spleen,0.000000,nan,0.000000\n"
            "b.nii.gz,liver,0.700000,4.000000,0.600000\n"
            "b.nii.gz,spleen,nan,nan,0.000000\n"
            "mean,liver,0.800000,3.000000,0.700000\n"
            "mean,spleen,0.000000,nan,0.000000\n");
}
