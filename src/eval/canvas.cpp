#include "canvas.h"

#include <mutex>

#ifdef REPUX_HAVE_PLPLOT
#include <plplot.h>
#endif

namespace repux {

Canvas::Canvas(int w, int h, const Rgb& background) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3) {
  fill(0, 0, w, h, background);
}

void Canvas::put(int x, int y, const Rgb& c) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  rgb[i] = c[0];
  rgb[i + 1] = c[1];
  rgb[i + 2] = c[2];
}

void Canvas::fill(int x0, int y0, int w, int h, const Rgb& c) {
  for (int y = y0; y < y0 + h; ++y)
    for (int x = x0; x < x0 + w; ++x) put(x, y, c);
}

void draw_texts(Canvas& canvas, const std::vector<Text>& texts) {
#ifdef REPUX_HAVE_PLPLOT
  static std::mutex plplot;
  const std::lock_guard<std::mutex> lock(plplot);
  plsdev("mem");
  plsmem(canvas.width, canvas.height, canvas.rgb.data());  // drawn over the pixels as they are
  plinit();
  pladv(0);
  plvpor(0, 1, 0, 1);
  plwind(0, canvas.width, 0, canvas.height);
  for (const auto& t : texts) {
    plscol0(1, t.colour[0], t.colour[1], t.colour[2]);
    plcol0(1);
    plschr(0, t.size);
    plptex(t.x, canvas.height - t.y, 1, 0, t.align, t.text.c_str());
  }
  plend();
#else
  (void)canvas;
  (void)texts;
#endif
}

}  // namespace repux
