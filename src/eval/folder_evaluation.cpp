#include "repux/eval/folder_evaluation.h"

#include "repux/data/labels.h"
#include "repux/error.h"
#include "repux/eval/metrics.h"
#include "repux/io/atomic_file.h"
#include "repux/io/paths.h"
#include "repux/io/volume_file.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace repux {

std::vector<LabelledPair> pairs_in_folders(const std::string& prediction_dir, const std::string& truth_dir) {
  std::map<std::string, std::string> preds, truths;
  for (const auto& f : list_volume_files(prediction_dir)) preds[volume_stem(f)] = f;
  for (const auto& f : list_volume_files(truth_dir)) truths[volume_stem(f)] = f;
  std::vector<std::string> missing, unmatched;
  for (const auto& [stem, file] : truths) {
    if (!preds.count(stem)) missing.push_back(file);
  }
  if (!missing.empty()) fail("{}: no prediction for {} ground-truth file(s), e.g. {}", prediction_dir, missing.size(), missing.front());
  for (const auto& [stem, file] : preds) {
    if (!truths.count(stem)) unmatched.push_back(file);
  }
  if (!unmatched.empty()) fail("{}: {} prediction(s) have no ground truth in {}, e.g. {}", prediction_dir, unmatched.size(), truth_dir, unmatched.front());
  if (truths.empty()) fail("{}: no volume files ({})", truth_dir, volume_path_kinds());
  std::vector<LabelledPair> pairs;
  for (const auto& [stem, truth_name] : truths) {
    pairs.push_back({preds[stem], (fs::path(prediction_dir) / preds[stem]).string(), (fs::path(truth_dir) / truth_name).string()});
  }
  return pairs;
}

void for_each_labelled_case(const std::vector<LabelledPair>& pairs, int64_t classes, const std::function<void(LabelledCase&)>& visit,
                            std::optional<int64_t> ignore_label) {
  for (const auto& pair : pairs) {
    const std::string &pred_file = pair.prediction, &truth_file = pair.truth;
    LabelledCase c{pair.name, read_volume(pred_file), {}};
    c.truth = read_label_volume(truth_file, c.prediction.grid());
    if (c.truth.spatial_shape() != c.prediction.spatial_shape()) fail("{}: prediction and ground truth {} shapes differ", pred_file, truth_file);
    if (!torch::allclose(c.truth.affine, c.prediction.affine, 1e-4, 1e-3)) {
      fail("{}: prediction and ground truth {} affines differ (a flipped or shifted grid; repux resample --like puts it on the same grid)",
           pred_file, truth_file);
    }
    if (ignore_label) {
      const auto ignored = c.truth.data == static_cast<double>(*ignore_label);
      c.truth.data = c.truth.data.masked_fill(ignored, 0);
      c.prediction.data = c.prediction.data.masked_fill(ignored, 0);
    }
    for (const auto& [volume, file] : {std::pair<const Volume&, const std::string&>{c.truth, truth_file}, {c.prediction, pred_file}}) {
      const std::string problem = label_value_problem(volume.data, classes);
      if (!problem.empty()) fail("{}: {}", file, problem);
    }
    visit(c);
  }
}

void for_each_labelled_case(const std::string& prediction_dir, const std::string& truth_dir, int64_t classes,
                            const std::function<void(LabelledCase&)>& visit) {
  for_each_labelled_case(pairs_in_folders(prediction_dir, truth_dir), classes, visit);
}

namespace {

// What is scored: classes 1..K-1 each as one value, or the regions; and their names (without background).
struct Scored {
  std::vector<std::vector<int64_t>> value_sets;
  std::vector<std::string> names;
};

Scored scored_sets(const EvaluationOptions& options, int64_t classes) {
  Scored out;
  if (!options.regions.empty()) {
    for (const auto& r : options.regions.regions) {
      out.value_sets.push_back(r.values);
      out.names.push_back(r.name);
    }
    return out;
  }
  const std::vector<std::string> names = options.class_names.empty() ? default_class_names(classes) : options.class_names;
  if (static_cast<int64_t>(names.size()) != classes) fail("{} class names given for {} classes", names.size(), classes);
  for (int64_t c = 1; c < classes; ++c) out.value_sets.push_back({c});
  out.names.assign(names.begin() + (names.empty() ? 0 : 1), names.end());
  return out;
}

}  // namespace

EvaluationSummary evaluate_pairs(const std::vector<LabelledPair>& pairs, const EvaluationOptions& options) {
  struct Loaded { std::string name; torch::Tensor pred, truth; std::array<double, 3> spacing; };
  std::vector<Loaded> cases;
  const int64_t bound = options.classes == 0 && !options.regions.empty() ? options.regions.label_classes() : options.classes;
  int64_t classes = bound;
  for_each_labelled_case(
      pairs, bound,
      [&](LabelledCase& c) {
        const Volume &p = c.prediction, &g = c.truth;
        if (bound == 0) classes = std::max<int64_t>({classes, g.data.max().item<int64_t>() + 1, p.data.max().item<int64_t>() + 1});
        cases.push_back({c.name, p.data, g.data, g.spacing()});
      },
      options.ignore_label);
  const Scored scored = scored_sets(options, classes);

  EvaluationSummary summary;
  summary.class_names = scored.names;
  summary.tolerance_mm = options.tolerance_mm;
  for (const auto& c : cases) {
    summary.cases.push_back({c.name, evaluate_regions(c.pred, c.truth, scored.value_sets, c.spacing, options.tolerance_mm)});
  }
  compute_means(summary);
  return summary;
}

EvaluationSummary evaluate_folders(const std::string& prediction_dir, const std::string& truth_dir, const EvaluationOptions& options) {
  return evaluate_pairs(pairs_in_folders(prediction_dir, truth_dir), options);
}

void write_evaluation(const EvaluationSummary& summary, const std::string& json_path) {
  write_file_atomically(json_path, to_json(summary).dump(2) + "\n");
  std::string csv_path = json_path;
  if (csv_path.size() > 5 && ends_with(csv_path, ".json")) csv_path.resize(csv_path.size() - 5);
  write_file_atomically(csv_path + ".csv", evaluation_csv(summary));
}

}  // namespace repux
