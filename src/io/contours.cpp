#include "repux/io/contours.h"

#include "repux/error.h"

#include <algorithm>

namespace repux {
namespace {

// Directions of travel: +x, +y, -x, -y; turning left is +1.
constexpr int64_t kStep[4][2] = {{1, 0}, {0, 1}, {-1, 0}, {0, -1}};

struct Edge {
  int64_t x, y;  // start corner
  int direction;
  bool used = false;
};

// Every pixel side between foreground and background (or the slice's border), directed with the
// foreground on the left.
std::vector<Edge> boundary_edges(const torch::Tensor& fg) {
  const int64_t nx = fg.size(0), ny = fg.size(1);
  auto m = fg.accessor<bool, 2>();
  auto at = [&](int64_t i, int64_t j) { return i >= 0 && j >= 0 && i < nx && j < ny && m[i][j]; };
  std::vector<Edge> edges;
  for (int64_t i = 0; i < nx; ++i) {
    for (int64_t j = 0; j < ny; ++j) {
      if (!m[i][j]) continue;
      if (!at(i, j - 1)) edges.push_back({i, j, 0});
      if (!at(i + 1, j)) edges.push_back({i + 1, j, 1});
      if (!at(i, j + 1)) edges.push_back({i + 1, j + 1, 2});
      if (!at(i - 1, j)) edges.push_back({i, j + 1, 3});
    }
  }
  return edges;
}

}  // namespace

std::vector<Polygon> trace_polygons(const torch::Tensor& mask) {
  if (mask.dim() != 2) fail("trace_polygons: expected a 2-D mask, got {} dimensions", mask.dim());
  const torch::Tensor fg = mask.ne(0).cpu().contiguous();
  std::vector<Edge> edges = boundary_edges(fg);
  const int64_t stride = fg.size(0) + 1;
  // Edges by start corner: at most two leave a corner (two where pixels meet only diagonally).
  std::vector<std::array<int64_t, 2>> leaving(static_cast<size_t>(stride * (fg.size(1) + 1)), {-1, -1});
  for (size_t e = 0; e < edges.size(); ++e) {
    auto& slot = leaving[static_cast<size_t>(edges[e].y * stride + edges[e].x)];
    slot[slot[0] < 0 ? 0 : 1] = static_cast<int64_t>(e);
  }
  std::vector<Polygon> polygons;
  for (size_t first = 0; first < edges.size(); ++first) {
    if (edges[first].used) continue;
    Polygon polygon;
    size_t e = first;
    int previous = -1;
    while (!edges[e].used) {
      Edge& edge = edges[e];
      edge.used = true;
      if (edge.direction != previous) polygon.corners.push_back({edge.x, edge.y});
      previous = edge.direction;
      const int64_t ex = edge.x + kStep[edge.direction][0], ey = edge.y + kStep[edge.direction][1];
      const auto& next = leaving[static_cast<size_t>(ey * stride + ex)];
      // At a diagonal meeting, turn left: stay with the pixel just passed.
      e = static_cast<size_t>(next[0]);
      if (next[1] >= 0 && edges[static_cast<size_t>(next[1])].direction == (edge.direction + 1) % 4) e = static_cast<size_t>(next[1]);
    }
    // The first corner is redundant when the closing edge runs on in the first edge's direction.
    if (polygon.corners.size() > 4 && previous == edges[first].direction) polygon.corners.erase(polygon.corners.begin());
    polygons.push_back(std::move(polygon));
  }
  return polygons;
}

torch::Tensor fill_polygons(const std::vector<Polygon>& polygons, int64_t x_size, int64_t y_size) {
  torch::Tensor inside = torch::zeros({x_size, y_size}, torch::kBool);
  auto m = inside.accessor<bool, 2>();
  // For each row of pixel centres (y + 0.5), the vertical edges crossed to the left of each centre
  // toggle it: a crossing at corner x flips every pixel from x on.
  for (const auto& polygon : polygons) {
    const auto& c = polygon.corners;
    for (size_t k = 0; k < c.size(); ++k) {
      const auto& a = c[k];
      const auto& b = c[(k + 1) % c.size()];
      if (a[0] != b[0]) continue;  // horizontal edges cross no row of centres
      for (int64_t y = std::min(a[1], b[1]); y < std::max(a[1], b[1]); ++y) {
        if (y < 0 || y >= y_size) continue;
        for (int64_t x = std::max<int64_t>(a[0], 0); x < x_size; ++x) m[x][y] = !m[x][y];
      }
    }
  }
  return inside;
}

}  // namespace repux
