// `repux postprocess`: nnU-Net's post-processing for repux models.
//   --determine -m MODEL --pred DIR --gt DIR: per class, does keeping only the largest connected
//     component raise the mean Dice of these validation predictions? The decision is stored in the
//     model file (rewritten atomically), and `predict` applies it from then on.
//   -m MODEL -i IN -o OUT: applies the model's post-processing to label files (a file or a folder).
#include "commands.h"
#include "options.h"

#include "repux/error.h"
#include "repux/eval/folder_evaluation.h"
#include "repux/infer/postprocess.h"
#include "repux/io/volume_file.h"
#include "repux/model/model_file.h"

#include <fmt/format.h>

namespace repux::cli {
namespace {

struct PostprocessArgs {
  std::string model, prediction_dir, truth_dir, input, output;
  bool determine = false;
  Connectivity connectivity = Connectivity::Corners;
};

void determine(const PostprocessArgs& a) {
  if (a.prediction_dir.empty() || a.truth_dir.empty()) fail("--determine needs --pred and --gt folders");
  LoadedModel model = load_model(a.model);
  Plan& plan = model.info.plan;
  PostprocessingSearch search(label_classes(plan), a.connectivity);
  // Paired and checked as evaluate pairs them: a ground truth on another grid is refused.
  for_each_labelled_case(a.prediction_dir, a.truth_dir, label_classes(plan), [&](LabelledCase& c) {
    search.add_case(c.prediction.data.round().to(torch::kInt64), c.truth.data.round().to(torch::kInt64));
  });
  fmt::print("{:<20} {:>6} {:>12} {:>12}  {}\n", "class", "cases", "dice before", "dice after", "largest component only");
  for (const auto& r : search.results()) {
    fmt::print("{:<20} {:>6} {:>12.4f} {:>12.4f}  {}\n", fmt::format("{} {}", r.cls, label_value_names(plan)[static_cast<size_t>(r.cls)]), r.cases,
               r.dice_before, r.dice_after, r.helps() ? "yes" : "no");
  }
  plan.postprocessing = search.decision();
  save_model(model.net, model.info, a.model);
  fmt::print("{}: post-processing stored: {}\n", a.model, describe(plan.postprocessing, label_value_names(plan)));
}

void apply(const PostprocessArgs& a) {
  if (a.input.empty() || a.output.empty()) fail("postprocess needs -i and -o (or --determine with --pred and --gt)");
  const LoadedModel model = load_model(a.model);
  const Postprocessing& rules = model.info.plan.postprocessing;
  for (const VolumeJob& job : volume_jobs(a.input, a.output)) {
    Volume v = read_volume(job.input);
    v.data = apply_postprocessing(v.data.round(), rules);
    write_volume(v, job.output);
    fmt::print("{} -> {} ({})\n", job.input, job.output, describe(rules, label_value_names(model.info.plan)));
  }
}

}  // namespace

void add_postprocess_command(CLI::App& app) {
  auto pa = std::make_shared<PostprocessArgs>();
  auto* p = app.add_subcommand("postprocess", "Keep the largest component per class where it helps (--determine), or apply a model's post-processing");
  p->add_option("-m,--model", pa->model, "repux model file (--determine stores its decision there)")->required();
  p->add_flag("--determine", pa->determine, "Decide per class on validation predictions (--pred, --gt) and store the decision in the model");
  p->add_option("--pred", pa->prediction_dir, "--determine: folder of predicted label maps");
  p->add_option("--gt", pa->truth_dir, "--determine: folder of ground-truth label maps (same file names)");
  add_enum_option(p, "--connectivity", pa->connectivity, "Neighbours that join a component, --determine");
  p->add_option("-i,--input", pa->input, "Label file or folder to post-process");
  p->add_option("-o,--output", pa->output, "Output file (or folder)");
  p->callback([pa] { pa->determine ? determine(*pa) : apply(*pa); });
}

}  // namespace repux::cli
