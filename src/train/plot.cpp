#include "repux/train/plot.h"

#include "repux/error.h"
#include "repux/io/png.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#ifdef REPUX_HAVE_PLPLOT
#include <plplot.h>
#endif

namespace repux {

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
  plsdev("mem");
  plsmem(width, height, buffer.data());
  plscolbg(255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscol0(2, 200, 40, 40);
  plscol0(3, 30, 90, 200);
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

}  // namespace repux
