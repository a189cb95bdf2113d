#pragma once
// Training curves as a PNG, drawn by PLplot (its in-memory "mem" device) and written with libpng.
#include <string>
#include <vector>

namespace repux {

struct CurvePoint {
  double x, y;
};

// Two panels: training loss and validation Dice against iterations. Writes atomically.
void plot_training_curves(const std::vector<CurvePoint>& loss, const std::vector<CurvePoint>& dice, const std::string& png_path);

// Writes an RGB image (height * width * 3 bytes) as PNG, atomically.
void write_png(const std::string& path, const unsigned char* rgb, int width, int height);

}  // namespace repux
