#pragma once
// The outlines of a binary slice as closed polygons along the pixels' edges, for RTSTRUCT contours
// and the previews' outlines.
//
// A polygon's vertices are pixel corners: corner (x, y) lies between pixels x-1 and x along the first
// axis and y-1 and y along the second, so pixel (i, j) spans [i, i+1] x [j, j+1] and its centre is
// (i + 0.5, j + 0.5). Each polygon runs with the foreground on its left (outer boundaries counter-
// clockwise, the boundaries of holes clockwise). Filled by the even-odd rule, the polygons give back
// exactly the pixels whose centres they enclose: every island and every hole is its own polygon.
// Pixels that touch only at a corner belong to separate polygons (4-connectivity). Vertices where
// the outline goes straight on are left out.
#include <torch/torch.h>

#include <array>
#include <vector>

namespace repux {

struct Polygon {
  std::vector<std::array<int64_t, 2>> corners;  // (x, y) pixel corners, the closing edge implied
};

// `mask`: [X, Y], bool or integer (non-zero is foreground).
std::vector<Polygon> trace_polygons(const torch::Tensor& mask);

// The mask a set of polygons encloses by the even-odd rule (pixel centres tested): [X, Y] bool. The
// inverse of trace_polygons, for tests and for rasterising contours read from elsewhere.
torch::Tensor fill_polygons(const std::vector<Polygon>& polygons, int64_t x_size, int64_t y_size);

}  // namespace repux
