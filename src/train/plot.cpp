#include "repux/train/plot.h"

#include "repux/error.h"
#include "repux/io/png.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#ifdef REPUX_HAVE_PLPLOT
#include <plplot.h>
#endif

namespace repux {

#ifdef REPUX_HAVE_PLPLOT
namespace {

// PLplot's in-memory device over `buffer` (width x height RGB), white, with colours 1 black, 2 red,
// 3 blue, and 4-11 for the classes' curves.
void start_plot(int width, int height, std::vector<unsigned char>& buffer) {
  plsdev("mem");
  plsmem(width, height, buffer.data());
  plscolbg(255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscol0(2, 200, 40, 40);
  plscol0(3, 30, 90, 200);
  constexpr int classes[8][3] = {{230, 140, 20}, {40, 160, 60}, {150, 60, 180}, {20, 170, 170}, {140, 90, 40}, {220, 90, 160}, {120, 120, 120}, {180, 180, 30}};
  for (int i = 0; i < 8; ++i) plscol0(4 + i, classes[i][0], classes[i][1], classes[i][2]);
}

// A curve in the current window; a single point as a dot.
void draw_curve(const std::vector<CurvePoint>& pts, int colour, double width) {
  std::vector<PLFLT> x, y;
  for (const auto& p : pts) {
    x.push_back(p.x);
    y.push_back(p.y);
  }
  plcol0(colour);
  plwidth(width);
  if (pts.size() >= 2) plline(static_cast<PLINT>(x.size()), x.data(), y.data());
  if (pts.size() == 1) plpoin(1, x.data(), y.data(), 17);
  plwidth(1);
}

}  // namespace
#endif

bool plotting_available() {
#ifdef REPUX_HAVE_PLPLOT
  return true;
#else
  return false;
#endif
}

void plot_training_curves(const std::vector<CurvePoint>& loss, const std::vector<CurvePoint>& dice, const std::string& png_path,
                          const std::vector<NamedCurve>& per_class) {
#ifdef REPUX_HAVE_PLPLOT
  const int width = 1000, height = 420;
  std::vector<unsigned char> buffer(static_cast<size_t>(width) * height * 3, 255);
  start_plot(width, height, buffer);
  plssub(2, 1);
  plinit();
  auto axes = [](const std::vector<CurvePoint>& pts, const char* title, const char* ylabel, double ymin, double ymax) {
    double xmax = 1;
    for (const auto& p : pts) xmax = std::max(xmax, p.x);
    pladv(0);
    plvsta();
    plwind(0, xmax, ymin, ymax);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("iteration", ylabel, title);
  };
  double lmax = 0.1;
  for (const auto& p : loss) lmax = std::max(lmax, p.y);
  axes(loss, "training loss", "loss", 0.0, lmax * 1.05);
  draw_curve(loss, 2, 2);
  axes(dice, "validation Dice", "Dice", 0.0, 1.0);
  // A legend in the lower right, one line per curve in its colour: the mean, then each class.
  plschr(0, 0.75);
  auto legend = [&](size_t line, int colour, const std::string& text) {
    plcol0(colour);
    plmtex("rv", -1.0, 0.04 + 0.065 * static_cast<double>(line), 1.0, text.c_str());
  };
  if (!per_class.empty()) legend(per_class.size(), 3, "mean");
  for (size_t k = 0; k < per_class.size(); ++k) {
    const int colour = 4 + static_cast<int>(k % 8);
    draw_curve(per_class[k].points, colour, 1);
    legend(per_class.size() - 1 - k, colour, per_class[k].name);
  }
  draw_curve(dice, 3, 3);
  plend();
  write_png(png_path, buffer.data(), width, height);
#else
  (void)loss;
  (void)dice;
  (void)png_path;
  (void)per_class;
#endif
}

void plot_labelled_points(const std::vector<LabelledPoints>& columns, const std::string& title, const std::string& ylabel, const std::string& png_path) {
#ifdef REPUX_HAVE_PLPLOT
  const int width = std::max<int>(600, 70 * static_cast<int>(columns.size()) + 160), height = 560;
  std::vector<unsigned char> buffer(static_cast<size_t>(width) * height * 3, 255);
  double ymin = 1, ymax = 0;
  for (const auto& c : columns) {
    for (double v : c.values) {
      if (std::isfinite(v)) ymin = std::min(ymin, v), ymax = std::max(ymax, v);
    }
  }
  if (ymin > ymax) ymin = 0, ymax = 1;
  const double pad = std::max(0.01, 0.1 * (ymax - ymin));
  start_plot(width, height, buffer);
  plinit();
  pladv(0);
  plschr(0, 0.8);
  plvpor(0.1, 0.97, 0.36, 0.9);  // room below for labels of up to ~16 characters
  plwind(-0.5, static_cast<double>(columns.size()) - 0.5, ymin - pad, ymax + pad);
  plcol0(1);
  plbox("bc", 0, 0, "bcnstv", 0, 0);
  pllab("", ylabel.c_str(), title.c_str());
  for (size_t i = 0; i < columns.size(); ++i) {
    const PLFLT x = static_cast<PLFLT>(i);
    std::vector<PLFLT> xs, ys;
    double sum = 0;
    for (double v : columns[i].values) {
      if (!std::isfinite(v)) continue;
      xs.push_back(x);
      ys.push_back(v);
      sum += v;
    }
    plcol0(3);
    if (!xs.empty()) plpoin(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), 17);
    if (!xs.empty()) {
      const PLFLT mean = sum / static_cast<double>(xs.size());
      PLFLT bx[2] = {x - 0.3, x + 0.3}, by[2] = {mean, mean};
      plcol0(2);
      plwidth(2);
      plline(2, bx, by);
      plwidth(1);
    }
    plcol0(1);
    const PLFLT position = (static_cast<double>(i) + 0.5) / static_cast<double>(columns.size());
    plmtex("bv", 0.5, position, 1.0, columns[i].label.c_str());  // perpendicular to the axis, below it
  }
  plend();
  write_png(png_path, buffer.data(), width, height);
#else
  (void)columns;
  (void)title;
  (void)ylabel;
  (void)png_path;
#endif
}

}  // namespace repux
