#pragma once
// The HTML report of a set of predictions (the demo's, a training run's validation): the previews
// (preview.h), the training curves and the metric table.
#include "repux/eval/evaluation_summary.h"
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

// report.html next to the pictures: overlays, training curves (if present) and the metric table
// (when `summary` is given).
void write_html_report(const std::string& html_path, const std::vector<std::string>& overlay_pngs, const std::string& curves_png,
                       const EvaluationSummary* summary);

}  // namespace repux
