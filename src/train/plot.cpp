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

// PLplot's in-memory device over `buffer` (width x height RGB), white, with colours 1 black, 2 red, 3 blue.
void start_plot(int width, int height, std::vector<unsigned char>& buffer) {
  plsdev("mem");
  plsmem(width, height, buffer.data());
  plscolbg(255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscol0(2, 200, 40, 40);
  plscol0(3, 30, 90, 200);
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

void plot_training_curves(const std::vector<CurvePoint>& loss, const std::vector<CurvePoint>& dice, const std::string& png_path) {
#ifdef REPUX_HAVE_PLPLOT
  const int width = 1000, height = 420;
  std::vector<unsigned char> buffer(static_cast<size_t>(width) * height * 3, 255);
  start_plot(width, height, buffer);
  plssub(2, 1);
  plinit();
  auto panel = [](const std::vector<CurvePoint>& pts, const char* title, const char* ylabel, int colour, double ymin, double ymax) {
    double xmax = 1;
    for (const auto& p : pts) xmax = std::max(xmax, p.x);
    pladv(0);
    plvsta();
    plwind(0, xmax, ymin, ymax);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("iteration", ylabel, title);
    if (pts.size() >= 2) {
      std::vector<PLFLT> x, y;
      for (const auto& p : pts) {
        x.push_back(p.x);
        y.push_back(p.y);
      }
      plcol0(colour);
      plwidth(2);
      plline(static_cast<PLINT>(x.size()), x.data(), y.data());
    } else if (pts.size() == 1) {
      PLFLT x = pts[0].x, y = pts[0].y;
      plcol0(colour);
      plpoin(1, &x, &y, 17);
    }
  };
  double lmax = 0.1;
  for (const auto& p : loss) lmax = std::max(lmax, p.y);
  panel(loss, "training loss (Dice + CE)", "loss", 2, 0.0, lmax * 1.05);
  panel(dice, "validation mean Dice", "Dice", 3, 0.0, 1.0);
  plend();
  write_png(png_path, buffer.data(), width, height);
#else
  (void)loss;
  (void)dice;
  (void)png_path;
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
