#include "repux/eval/html_report.h"

#include "repux/error.h"
#include "repux/eval/metrics.h"
#include "repux/io/atomic_file.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>

namespace fs = std::filesystem;

namespace repux {
namespace {

std::string report_cell(double v) { return std::isfinite(v) ? fmt::format("{:.3f}", v) : std::string("n/a"); }

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '\'' ? "&#39;" : std::string(1, c);
  return out;
}

// Click a header to sort its table's rows by that column (numbers as numbers, "n/a" last); again to
// reverse. The mean row (in <tfoot>) stays at the bottom.
const char* kSortScript = R"JS(<script>
document.querySelectorAll('table.sortable th').forEach((th, column) => {
  th.style.cursor = 'pointer';
  th.title = 'sort';
  th.addEventListener('click', () => {
    const body = th.closest('table').tBodies[0];
    const up = th.dataset.order !== 'up';
    th.closest('tr').querySelectorAll('th').forEach((h) => delete h.dataset.order);
    th.dataset.order = up ? 'up' : 'down';
    const key = (row) => { const t = row.cells[column].textContent.trim(); const n = parseFloat(t); return isNaN(n) ? t : n; };
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b);
      if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
    });
    rows.forEach((r) => body.appendChild(r));
  });
});
</script>
)JS";

void class_table(std::ostringstream& f, const EvaluationSummary& s) {
  f << "<h2>Metrics (mean over the cases)</h2><table class='sortable'><thead><tr><th>class</th><th>Dice</th><th>HD95 (mm)</th>"
       "<th>surface Dice</th></tr></thead><tbody>\n";
  for (size_t k = 0; k < s.class_names.size(); ++k) {
    const ClassMetrics& m = s.mean_per_class.at(k);
    f << "<tr><td>" << escaped(s.class_names[k]) << "</td><td>" << report_cell(m.dice) << "</td><td>" << report_cell(m.hd95) << "</td><td>"
      << report_cell(m.surface_dice) << "</td></tr>\n";
  }
  f << "</tbody><tfoot><tr><th>mean</th><th>" << report_cell(s.mean.dice) << "</th><th>" << report_cell(s.mean.hd95) << "</th><th>"
    << report_cell(s.mean.surface_dice) << "</th></tr></tfoot></table>\n";
}

// One row per case: its mean Dice and each class's Dice, the name linking to the case's viewer page.
void case_table(std::ostringstream& f, const EvaluationSummary& s, const std::map<std::string, std::string>& pages,
                const std::function<std::string(const std::string&)>& rel) {
  f << "<h2>Cases</h2><p>Dice per case and class; click a column's header to sort" << (pages.empty() ? "" : ", a case's name to view it")
    << ".</p><table class='sortable' id='cases'><thead><tr><th>case</th><th>mean Dice</th>";
  for (const auto& name : s.class_names) f << "<th>" << escaped(name) << "</th>";
  f << "</tr></thead><tbody>\n";
  for (const CaseEvaluation& c : s.cases) {
    std::vector<double> dice;
    for (const auto& m : c.classes) dice.push_back(m.dice);
    const auto page = pages.find(c.name);
    const std::string name = page == pages.end() ? escaped(c.name) : "<a href='" + escaped(rel(page->second)) + "'>" + escaped(c.name) + "</a>";
    f << "<tr><td>" << name << "</td><td>" << report_cell(mean_of_finite(dice)) << "</td>";
    for (double d : dice) f << "<td>" << report_cell(d) << "</td>";
    f << "</tr>\n";
  }
  f << "</tbody></table>\n";
}

}  // namespace

void write_html_report(const std::string& html_path, const ReportContents& r) {
  const fs::path base = fs::path(html_path).parent_path();
  auto rel = [&](const std::string& p) { return fs::relative(p, base.empty() ? fs::path(".") : base).string(); };
  std::ostringstream f;
  f << "<!doctype html><html><head><meta charset='utf-8'><title>repux report</title>"
       "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
       "td,th{border:1px solid #bbb;padding:4px 8px}th[data-order=up]::after{content:' \\25B2'}th[data-order=down]::after{content:' \\25BC'}"
       "img{margin:6px 0;border:1px solid #ddd}</style></head><body><h1>repux report</h1>\n";
  if (r.summary) {
    class_table(f, *r.summary);
    if (!r.summary->cases.empty()) case_table(f, *r.summary, r.viewer_pages, rel);
  }
  if (!r.curves_png.empty() && fs::exists(r.curves_png)) f << "<h2>Training curves</h2><img src='" << escaped(rel(r.curves_png)) << "'>\n";
  if (!r.overlay_pngs.empty()) {
    f << "<h2>Previews</h2><p>Columns: image, ground truth, prediction; rows: axial, coronal and sagittal slices through the "
         "structures' centre, the patient's right on the image's left.</p>\n";
  }
  for (const auto& png : r.overlay_pngs) f << "<h3>" << escaped(fs::path(png).stem().string()) << "</h3><img src='" << escaped(rel(png)) << "'>\n";
  f << kSortScript << "</body></html>\n";
  write_file_atomically(html_path, f.str());
}

}  // namespace repux
