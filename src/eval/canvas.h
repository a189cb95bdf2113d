#pragma once
// An RGB picture to draw on, and text over it (private to src/eval/: the previews and the ERF picture).
#include "repux/io/label_colours.h"

#include <string>
#include <vector>

namespace repux {

struct Canvas {
  int width, height;
  std::vector<unsigned char> rgb;  // rows top to bottom
  Canvas(int w, int h, const Rgb& background);
  void put(int x, int y, const Rgb& c);  // outside: nothing
  void fill(int x0, int y0, int w, int h, const Rgb& c);
};

struct Text {
  double x, y;   // canvas pixels, y down; y is the text's middle height
  double align;  // 0 left, 0.5 centre, 1 right of x
  std::string text;
  Rgb colour;
  double size = 1.0;  // relative to PLplot's default character height
};

// Draws the texts over the canvas's pixels through PLplot's memory device (Hershey strokes), one picture
// at a time (PLplot keeps global state). Without PLplot in the build: nothing.
void draw_texts(Canvas& canvas, const std::vector<Text>& texts);

}  // namespace repux
