#include "repux/eval/html_report.h"

#include <cmath>

#include "repux/error.h"
#include "repux/io/atomic_file.h"

#include <filesystem>
#include <sstream>

namespace repux {
void write_html_report(const std::string& html_path, const std::vector<std::string>& overlay_pngs, const std::string& curves_png,
                       const EvaluationSummary* summary) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(html_path).parent_path();
  auto rel = [&](const std::string& p) { return fs::relative(p, base.empty() ? fs::path(".") : base).string(); };
  std::ostringstream f;
  f << "<!doctype html><html><head><meta charset='utf-8'><title>repux report</title>"
       "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px}"
       "img{margin:6px 0;border:1px solid #ddd}</style></head><body><h1>repux report</h1>\n";
  if (summary) {
    f << "<h2>Metrics (mean over held-out cases)</h2><table><tr><th>class</th><th>Dice</th><th>HD95 (mm)</th><th>surface Dice</th></tr>\n";
    auto cell = [](double v) { return std::isfinite(v) ? fmt::format("{:.3f}", v) : std::string("n/a"); };
    auto row = [&](const char* tag, const std::string& name, const ClassMetrics& m) {
      f << "<tr><" << tag << ">" << name << "</" << tag << "><" << tag << ">" << cell(m.dice) << "</" << tag << "><" << tag << ">"
        << cell(m.hd95) << "</" << tag << "><" << tag << ">" << cell(m.surface_dice) << "</" << tag << "></tr>\n";
    };
    for (size_t k = 0; k < summary->class_names.size(); ++k) row("td", summary->class_names[k], summary->mean_per_class.at(k));
    row("th", "mean", summary->mean);
    f << "</table>\n";
  }
  if (!curves_png.empty() && fs::exists(curves_png)) f << "<h2>Training curves</h2><img src='" << rel(curves_png) << "'>\n";
  f << "<h2>Held-out cases</h2><p>Columns: image, ground truth, prediction; rows: axial, coronal and sagittal slices through the "
       "structures' centre, the patient's right on the image's left.</p>\n";
  for (const auto& png : overlay_pngs) f << "<h3>" << fs::path(png).stem().string() << "</h3><img src='" << rel(png) << "'>\n";
  f << "</body></html>\n";
  write_file_atomically(html_path, f.str());
}

}  // namespace repux
