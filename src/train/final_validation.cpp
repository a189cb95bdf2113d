#include "repux/train/final_validation.h"

#include "repux/error.h"
#include "repux/eval/folder_evaluation.h"
#include "repux/eval/html_report.h"
#include "repux/eval/preview.h"
#include "repux/eval/viewer_page.h"
#include "repux/infer/predictor.h"
#include "repux/io/volume_file.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace repux {
namespace {

std::string page_name(const std::string& case_name) { return volume_stem(case_name) + ".html"; }

// The viewer pages share one copy of NiiVue's bundle in view/; without the bundle (a library build
// that was not installed) there are no pages, and the report says nothing of them.
std::optional<std::string> viewer_library(const fs::path& folder) {
  try {
    fs::create_directories(folder);
    return copy_niivue_bundle(folder.string());
  } catch (const Error& e) {
    fmt::print(stderr, "note: no viewer pages: {}\n", e.what());
    return std::nullopt;
  }
}

}  // namespace

std::map<std::string, std::string> validation_viewer_pages(const std::string& run_folder, const EvaluationSummary& summary) {
  std::map<std::string, std::string> pages;
  for (const auto& c : summary.cases) {
    const fs::path page = fs::path(run_folder) / validation_folder_name() / "view" / page_name(c.name);
    if (fs::exists(page)) pages[c.name] = page.string();
  }
  return pages;
}

EvaluationSummary validate_final_model(const std::vector<CaseFiles>& cases, const FinalValidationOptions& o) {
  const fs::path folder = fs::path(o.run_folder) / validation_folder_name();
  fs::create_directories(folder / "overlays");
  LoadedModel model = load_model(o.model, o.device);
  PredictOptions po;  // the model's own inference settings, as validation during training used them
  po.compute_device = o.device;
  std::vector<LabelledPair> pairs;
  std::vector<std::string> pngs;
  const std::optional<std::string> library = viewer_library(folder / "view");
  for (const auto& c : cases) {
    if (!fs::exists(c.image) || !fs::exists(c.label)) fail("{}: the validation case's files are gone; cannot predict it", c.image);
    const std::string id = case_identifier(c), prediction = (folder / (id + ".nii.gz")).string();
    const Volume image = read_case_image(c);
    const Prediction p = predict_volume(model, image, po);
    write_volume(p.labels, prediction);
    const Volume truth = read_label_volume(c.label, image.grid());
    pngs.push_back((folder / "overlays" / (id + ".png")).string());
    PreviewOptions preview;
    preview.title = id;
    write_preview(image, {{"ground truth", &truth}, {"prediction", &p.labels}}, pngs.back(), preview);
    if (library) {
      ViewerPageOptions page;
      page.library_src = *library;
      write_viewer_page({id, &image, &p.labels, &truth, o.class_names}, (folder / "view" / page_name(id + ".nii.gz")).string(), page);
    }
    pairs.push_back({id + ".nii.gz", prediction, c.label});
  }
  EvaluationOptions eo;
  eo.classes = o.regions.empty() ? static_cast<int64_t>(o.class_names.size()) : 0;
  eo.class_names = o.class_names;
  eo.regions = o.regions;
  eo.ignore_label = o.ignore_label;
  const EvaluationSummary summary = evaluate_pairs(pairs, eo);
  write_evaluation(summary, (folder / "summary.json").string());
  write_html_report((fs::path(o.run_folder) / "report.html").string(),
                    {pngs, o.curves_png, &summary, validation_viewer_pages(o.run_folder, summary)});
  return summary;
}

}  // namespace repux
