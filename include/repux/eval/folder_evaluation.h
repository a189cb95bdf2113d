#pragma once
// Evaluation of a folder of predictions against a folder of ground truths (`repux evaluate`): per case
// and per class metrics, means per class and overall (an EvaluationSummary), written as JSON and CSV.
#include "repux/data/label_regions.h"
#include "repux/eval/evaluation_summary.h"
#include "repux/io/volume.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace repux {

struct EvaluationOptions {
  int64_t classes = 0;  // 0: from the largest label found
  std::vector<std::string> class_names;
  double tolerance_mm = 2.0;
  // nnU-Net's ignore label: where the ground truth holds it, neither side is scored (both are taken as
  // background there, so such voxels count as neither hit nor miss).
  std::optional<int64_t> ignore_label;
  // Region-based labels: metrics per region (names: the regions') instead of per class; `classes`
  // then bounds the label values (0: the regions').
  LabelRegions regions;
};

// A prediction file and its ground-truth file; `name` is the prediction's file name.
struct LabelledPair {
  std::string name, prediction, truth;
};
// Pairs the folders' volume files by name without the format's suffix (case.dcm meets case.nii.gz); a
// prediction without ground truth (or the reverse) is an error listing them.
std::vector<LabelledPair> pairs_in_folders(const std::string& prediction_dir, const std::string& truth_dir);

// A prediction and its ground truth, as evaluate and postprocess --determine read them.
struct LabelledCase {
  std::string name;  // the prediction's file name
  Volume prediction, truth;
};
// Each pair is read in turn (the truth onto the prediction's grid when it is a DICOM SEG) and checked
// before `visit` sees it: the same shape and affine (a truth stored mirrored is refused, never compared
// voxel by voxel), label values whole and, with `classes` > 0, below it (or the ignore label, which is
// then made background on both sides).
void for_each_labelled_case(const std::vector<LabelledPair>& pairs, int64_t classes, const std::function<void(LabelledCase&)>& visit,
                            std::optional<int64_t> ignore_label = {});
void for_each_labelled_case(const std::string& prediction_dir, const std::string& truth_dir, int64_t classes,
                            const std::function<void(LabelledCase&)>& visit);

EvaluationSummary evaluate_pairs(const std::vector<LabelledPair>& pairs, const EvaluationOptions& options);
// The pairs of two folders (pairs_in_folders).
EvaluationSummary evaluate_folders(const std::string& prediction_dir, const std::string& truth_dir, const EvaluationOptions& options);
// Writes summary.json and, next to it, summary.csv (one row per case and class), atomically.
void write_evaluation(const EvaluationSummary& summary, const std::string& json_path);

}  // namespace repux
