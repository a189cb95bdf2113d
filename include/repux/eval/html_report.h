#pragma once
// Pictures for people: slices of an image with label maps overlaid in colour, and an HTML report.
#include "repux/eval/evaluation_summary.h"
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

// Three axial slices (at 30%, 50% and 70% of the third axis) in rows; columns: image, image with
// `truth` (if given), image with `prediction`. The image is windowed to its 1st-99th percentiles.
void write_overlay_png(const Volume& image, const Volume* truth, const Volume& prediction, const std::string& png_path);

// report.html next to the pictures: overlays, training curves (if present) and the metric table
// (when `summary` is given).
void write_html_report(const std::string& html_path, const std::vector<std::string>& overlay_pngs, const std::string& curves_png,
                       const EvaluationSummary* summary);

}  // namespace repux
