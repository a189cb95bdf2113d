#include "repux/eval/html_report.h"

#include <cmath>

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/png.h"

#include <filesystem>
#include <sstream>

namespace repux {
namespace {

const unsigned char kColours[][3] = {{0, 0, 0},     {230, 60, 60},  {60, 200, 80},  {70, 120, 240}, {240, 200, 40},
                                     {200, 80, 220}, {40, 210, 210}, {250, 140, 40}, {150, 150, 150}};

// One slice [H, W] as rows of RGB, the image upsampled by `zoom` with nearest neighbours.
void draw_slice(std::vector<unsigned char>& canvas, int canvas_w, int x0, int y0, const torch::Tensor& gray, const torch::Tensor* labels,
                int zoom) {
  const int64_t h = gray.size(0), w = gray.size(1);
  auto g = gray.accessor<float, 2>();
  torch::Tensor label_values = labels ? labels->to(torch::kInt64).contiguous() : torch::Tensor();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const float v = g[y][x];
      unsigned char rgb[3] = {static_cast<unsigned char>(v * 255), static_cast<unsigned char>(v * 255), static_cast<unsigned char>(v * 255)};
      if (labels) {
        const int64_t l = label_values.data_ptr<int64_t>()[y * w + x];
        if (l > 0) {
          const auto& c = kColours[1 + (l - 1) % 8];
          for (int k = 0; k < 3; ++k) rgb[k] = static_cast<unsigned char>(0.45 * rgb[k] + 0.55 * c[k]);
        }
      }
      for (int dy = 0; dy < zoom; ++dy)
        for (int dx = 0; dx < zoom; ++dx) {
          const size_t idx = (static_cast<size_t>(y0 + y * zoom + dy) * canvas_w + (x0 + x * zoom + dx)) * 3;
          for (int k = 0; k < 3; ++k) canvas[idx + k] = rgb[k];
        }
    }
}

}  // namespace

void write_overlay_png(const Volume& image, const Volume* truth, const Volume& prediction, const std::string& png_path) {
  auto data = image.data.dim() == 4 ? image.data[0] : image.data;
  data = data.to(torch::kFloat32);
  auto sorted = std::get<0>(data.flatten().sort());
  const float lo = sorted[static_cast<int64_t>(0.01 * (sorted.numel() - 1))].item<float>();
  const float hi = sorted[static_cast<int64_t>(0.99 * (sorted.numel() - 1))].item<float>();
  auto gray = ((data - lo) / std::max(1e-6f, hi - lo)).clamp(0, 1);
  const int64_t depth = data.size(2);
  // Show slices with the first axis left-right and the second up (radiological-ish display).
  auto slice_of = [&](const torch::Tensor& t, int64_t k) { return t.select(2, k).t().flip({0}).contiguous(); };
  const int cols = truth ? 3 : 2;
  const int64_t h = data.size(1), w = data.size(0);
  const int zoom = static_cast<int>(std::max<int64_t>(1, 256 / std::max(h, w)));
  const int pad = 4, cell_w = static_cast<int>(w) * zoom, cell_h = static_cast<int>(h) * zoom;
  const int canvas_w = cols * (cell_w + pad) + pad, canvas_h = 3 * (cell_h + pad) + pad;
  std::vector<unsigned char> canvas(static_cast<size_t>(canvas_w) * canvas_h * 3, 255);
  const double fractions[3] = {0.3, 0.5, 0.7};
  for (int r = 0; r < 3; ++r) {
    const int64_t k = std::min<int64_t>(depth - 1, static_cast<int64_t>(fractions[r] * depth));
    auto g = slice_of(gray, k);
    const int y0 = pad + r * (cell_h + pad);
    int col = 0;
    draw_slice(canvas, canvas_w, pad + (col++) * (cell_w + pad), y0, g, nullptr, zoom);
    if (truth) {
      auto t = slice_of(truth->data.round().to(torch::kInt64), k);
      draw_slice(canvas, canvas_w, pad + (col++) * (cell_w + pad), y0, g, &t, zoom);
    }
    auto p = slice_of(prediction.data.round().to(torch::kInt64), k);
    draw_slice(canvas, canvas_w, pad + col * (cell_w + pad), y0, g, &p, zoom);
  }
  write_png(png_path, canvas.data(), canvas_w, canvas_h);
}

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
  f << "<h2>Held-out cases</h2><p>Columns: image, ground truth, prediction; rows: slices at 30%, 50% and 70% of the third axis.</p>\n";
  for (const auto& png : overlay_pngs) f << "<h3>" << fs::path(png).stem().string() << "</h3><img src='" << rel(png) << "'>\n";
  f << "</body></html>\n";
  write_file_atomically(html_path, f.str());
}

}  // namespace repux
