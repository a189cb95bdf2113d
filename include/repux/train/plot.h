#pragma once
// Training curves as a PNG, drawn by PLplot (its in-memory "mem" device) and written with libpng.
#include <string>
#include <vector>

namespace repux {

struct CurvePoint {
  double x, y;
};

// Whether this build has PLplot (the GPU build, made from a pip PyTorch, may not): without it no
// curves are drawn and metrics.csv is the record.
bool plotting_available();

struct NamedCurve {
  std::string name;
  std::vector<CurvePoint> points;
};

// Two panels: training loss, and validation Dice against iterations: the mean and each class of
// `per_class` in its own colour, named in a legend, so that a class never learned shows. Writes atomically.
void plot_training_curves(const std::vector<CurvePoint>& loss, const std::vector<CurvePoint>& dice, const std::string& png_path,
                          const std::vector<NamedCurve>& per_class = {});

// One column per label (e.g. an ablation's cells): its values as dots, their mean as a bar.
struct LabelledPoints {
  std::string label;
  std::vector<double> values;
};
void plot_labelled_points(const std::vector<LabelledPoints>& columns, const std::string& title, const std::string& ylabel, const std::string& png_path);

}  // namespace repux
