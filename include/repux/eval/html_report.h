#pragma once
// The HTML report of a set of predictions (the demo's, a training run's validation, `repux evaluate
// --report`): the metric tables (the means per class, and one row per case, each sortable by a click on
// its column's header), each case's name linked to its viewer page (viewer_page.h) where there is one,
// the training curves, and the previews (preview.h).
#include "repux/eval/evaluation_summary.h"
#include "repux/io/volume.h"

#include <map>
#include <string>
#include <vector>

namespace repux {

struct ReportContents {
  std::vector<std::string> overlay_pngs;  // previews, one per case
  std::string curves_png;                 // "" or missing: no curves
  const EvaluationSummary* summary = nullptr;
  std::map<std::string, std::string> viewer_pages;  // case name (as in the summary) -> its page
};

// report.html: links are relative to its folder.
void write_html_report(const std::string& html_path, const ReportContents& contents);

}  // namespace repux
