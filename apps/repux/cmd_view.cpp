// `repux view`: an interactive viewer page (NiiVue) of an image with its segmentation and ground truth
// (eval/viewer_page.h). Inputs as `repux stats` and `repux report` read them: NIfTI files, DICOM
// series and SEGs (converted for the page).
#include "commands.h"
#include "options.h"

#include "repux/eval/viewer_page.h"
#include "repux/io/atomic_file.h"
#include "repux/io/paths.h"
#include "repux/io/volume_file.h"
#include "repux/model/model_file.h"

#include <fmt/format.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

struct ViewArgs {
  std::string image, segmentation, truth, output = "view.html", model, title;
  std::vector<std::string> class_names;  // background first
  double opacity = 0.5;
};

void run_view(const ViewArgs& a) {
  refuse_writing_over_inputs({a.image, a.segmentation, a.truth, a.model}, a.output);
  if (!ends_with(a.output, ".html")) fail("-o {}: expected an .html page", a.output);
  ensure_writable(a.output);
  niivue_bundle_path();  // before reading anything: an install without the viewer says so at once
  const Volume image = read_volume(a.image, allowing_channels());
  std::optional<Volume> segmentation, truth;
  if (!a.segmentation.empty()) segmentation = read_label_volume(a.segmentation, image.grid());
  if (!a.truth.empty()) truth = read_label_volume(a.truth, image.grid());
  ViewerInput in;
  in.title = a.title.empty() ? fs::path(a.image).filename().string() : a.title;
  in.image = &image;
  in.prediction = segmentation ? &*segmentation : nullptr;
  in.truth = truth ? &*truth : nullptr;
  in.class_names = a.class_names;
  if (in.class_names.empty() && !a.model.empty()) in.class_names = load_model(a.model).info.plan.class_names;
  ViewerPageOptions options;
  options.label_opacity = a.opacity;
  write_viewer_page(in, a.output, options);
  fmt::print("wrote {} ({:.1f} MB; open it in a browser, no server needed)\n", a.output, fs::file_size(a.output) / 1e6);
}

}  // namespace

void add_view_command(CLI::App& app) {
  auto va = std::make_shared<ViewArgs>();
  auto* v = app.add_subcommand("view", "An interactive viewer page (NiiVue, offline): slices in three planes and a 3-D render of an image with "
                                       "its segmentation, ground truth and their errors, a legend of the classes");
  v->add_option("-i,--input,--image", va->image, "The image (NIfTI or a DICOM series)")->required();
  v->add_option("-s,--segmentation,--pred", va->segmentation, "A label map on the image's grid (NIfTI or a DICOM SEG)");
  v->add_option("-g,--truth,--gt", va->truth, "The ground truth (with -s: false positives and negatives shown as a layer)");
  v->add_option("-o,--output", va->output, "The page (.html; everything it needs is inside)")->capture_default_str();
  v->add_option("-m,--model", va->model, "Take the class names from this model");
  v->add_option("--class-names", va->class_names, "Class names, background first (a NIfTI names no labels)");
  v->add_option("--title", va->title, "The page's title (default: the image's file name)");
  v->add_option("--opacity", va->opacity, "The label layers' opacity when the page opens")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  v->callback([va] { run_view(*va); });
}

}  // namespace repux::cli
