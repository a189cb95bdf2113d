#include "repux/eval/preview.h"

#include "canvas.h"
#include "repux/error.h"
#include "repux/io/dicom_series.h"
#include "repux/io/label_colours.h"
#include "repux/io/paths.h"
#include "repux/io/png.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace repux {
namespace {

// ---- The volume in RAS order ----------------------------------------------------------------------

// A volume's axes matched to the closest RAS axes: x toward the patient's right, y anterior, z
// superior. Nothing is copied: slices are taken from the stored data and turned one by one.
struct Canonical {
  std::array<int64_t, 3> voxel_axis{};  // of each RAS axis
  std::array<bool, 3> reversed{};       // the voxel axis runs against the RAS axis
  std::array<int64_t, 3> size{};        // along each RAS axis
  std::array<double, 3> spacing{};
  torch::Tensor affine;  // [4, 4] of RAS-ordered indices
};

// For each world axis, the voxel axis nearest to it (largest component first, each used once).
std::array<int64_t, 3> nearest_axes(const torch::Tensor& affine) {
  auto a = affine.accessor<double, 2>();
  std::array<int64_t, 3> voxel_of{-1, -1, -1};
  std::array<bool, 3> used{};
  for (int round = 0; round < 3; ++round) {
    double best = -1;
    int64_t bw = 0, bv = 0;
    for (int64_t w = 0; w < 3; ++w) {
      for (int64_t v = 0; v < 3; ++v) {
        if (voxel_of[w] >= 0 || used[v] || std::abs(a[w][v]) <= best) continue;
        best = std::abs(a[w][v]);
        bw = w;
        bv = v;
      }
    }
    voxel_of[bw] = bv;
    used[bv] = true;
  }
  return voxel_of;
}

Canonical canonical_layout(const std::array<int64_t, 3>& shape, const torch::Tensor& affine_in) {
  const torch::Tensor affine = affine_in.to(torch::kFloat64).cpu();
  Canonical c;
  c.voxel_axis = nearest_axes(affine);
  const auto spacing = affine_spacing(affine);
  torch::Tensor to_old = torch::zeros({4, 4}, torch::kFloat64);  // RAS-ordered index -> stored index
  to_old[3][3] = 1;
  for (int64_t w = 0; w < 3; ++w) {
    const int64_t v = c.voxel_axis[w];
    c.size[w] = shape[v];
    c.spacing[w] = spacing[v];
    c.reversed[w] = affine[w][v].item<double>() < 0;
    to_old[v][w] = c.reversed[w] ? -1 : 1;
    if (c.reversed[w]) to_old[v][3] = static_cast<double>(shape[v] - 1);
  }
  c.affine = torch::matmul(affine, to_old);
  return c;
}

// The RAS-ordered voxel nearest to a stored position. Rounded after the turn, so that the same world
// point gives the same voxel whichever way the axes are stored (12.5 rounds up; stored reversed it
// would have been 10.5, rounding the other way).
std::array<int64_t, 3> to_ras_index(const Canonical& c, const std::array<double, 3>& stored) {
  std::array<int64_t, 3> ras{};
  for (int w = 0; w < 3; ++w) {
    const double i = stored[c.voxel_axis[w]];
    ras[w] = std::llround(c.reversed[w] ? static_cast<double>(c.size[w] - 1) - i : i);
  }
  return ras;
}

// ---- Views -----------------------------------------------------------------------------------------

struct ViewSpec {
  const char* name;
  int64_t normal;               // the RAS axis across the slices
  char coordinate;              // its name
  const char* letters;          // left, right, top, bottom edges
  int64_t row_axis, column_axis;  // RAS axes down the rows and along the columns
};
constexpr ViewSpec kViews[3] = {{"axial", 2, 'z', "RLAP", 1, 0}, {"coronal", 1, 'y', "RLSI", 2, 0}, {"sagittal", 0, 'x', "APSI", 2, 1}};

// The slice at RAS index `index` along the view's normal, [rows, columns] in display orientation: its
// in-plane axes in RAS order, both reversed and transposed, put right (or anterior) on the left and
// anterior (or superior) at the top. `stored`: the volume as stored.
torch::Tensor display_slice(const torch::Tensor& stored, const Canonical& c, const ViewSpec& view, int64_t index) {
  const int64_t n = view.normal;
  const torch::Tensor ras = stored.permute({c.voxel_axis[0], c.voxel_axis[1], c.voxel_axis[2]});
  torch::Tensor plane = ras.select(n, c.reversed[n] ? c.size[n] - 1 - index : index);  // [first in-plane axis, second]
  std::vector<int64_t> flips;
  int64_t dim = 0;
  for (int64_t w = 0; w < 3; ++w) {
    if (w == n) continue;
    if (!c.reversed[w]) flips.push_back(dim);  // displayed reversed: a reversed axis is already so
    ++dim;
  }
  if (!flips.empty()) plane = plane.flip(flips);
  return plane.t().contiguous();
}

// Nearest-neighbour resampling of a display slice to square pixels of `mm` millimetres.
torch::Tensor to_square_pixels(const torch::Tensor& slice, double row_mm, double column_mm, double mm) {
  auto indices = [&](int64_t n, double spacing) {
    const auto out = std::max<int64_t>(1, std::llround(n * spacing / mm));
    return ((torch::arange(out, torch::kFloat64) + 0.5) * (mm / spacing)).floor().clamp(0, n - 1).to(torch::kInt64);
  };
  return slice.index_select(0, indices(slice.size(0), row_mm)).index_select(1, indices(slice.size(1), column_mm));
}

// ---- Window ----------------------------------------------------------------------------------------

double quantile_of(const torch::Tensor& values, double q) {
  const torch::Tensor sorted = std::get<0>(values.flatten().sort());
  const int64_t n = sorted.numel();
  return sorted[std::min<int64_t>(n - 1, static_cast<int64_t>(q * static_cast<double>(n - 1)))].item<double>();
}

// Up to 2^20 evenly spaced voxels: percentiles of a clinical volume without sorting all of it.
torch::Tensor sample_of(const torch::Tensor& values) {
  const torch::Tensor flat = values.flatten();
  const int64_t step = std::max<int64_t>(1, flat.numel() / (1 << 20));
  return flat.slice(0, 0, flat.numel(), step).to(torch::kFloat64);
}

constexpr Rgb kWhite{255, 255, 255}, kYellow{255, 220, 60}, kGrey{170, 170, 170};

// One slice with a label map over it, drawn at (x0, y0).
void draw_cell(Canvas& canvas, int x0, int y0, const torch::Tensor& grey, const torch::Tensor* labels, OverlayStyle style) {
  const int64_t h = grey.size(0), w = grey.size(1);
  auto g = grey.accessor<float, 2>();
  const torch::Tensor lab = labels ? labels->contiguous() : torch::zeros_like(grey, torch::kInt64);
  auto l = lab.accessor<int64_t, 2>();
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const auto v = static_cast<unsigned char>(std::lround(g[y][x] * 255));
      Rgb c{v, v, v};
      const int64_t k = l[y][x];
      if (k > 0) {
        const bool edge = (x == 0 || l[y][x - 1] != k) || (x + 1 == w || l[y][x + 1] != k) || (y == 0 || l[y - 1][x] != k) ||
                          (y + 1 == h || l[y + 1][x] != k);
        const Rgb colour = label_colour(k);
        if (edge) {
          c = colour;
        } else if (style == OverlayStyle::Fill) {
          for (int i = 0; i < 3; ++i) c[i] = static_cast<unsigned char>(0.55 * c[i] + 0.45 * colour[i]);
        }
      }
      canvas.put(x0 + static_cast<int>(x), y0 + static_cast<int>(y), c);
    }
  }
}

// The point the slices pass through (RAS-ordered index): the centre of the first layer's labelled
// voxels, else the volume's centre.
std::array<int64_t, 3> slice_centre(const std::vector<LabelLayer>& layers, const Canonical& c) {
  for (const auto& layer : layers) {
    const torch::Tensor voxels = layer.labels->data.ne(0).nonzero();
    if (voxels.size(0) == 0) continue;
    const torch::Tensor mean = voxels.to(torch::kFloat64).mean(0);
    return to_ras_index(c, {mean[0].item<double>(), mean[1].item<double>(), mean[2].item<double>()});
  }
  return {c.size[0] / 2, c.size[1] / 2, c.size[2] / 2};
}

// The classes present in any layer, each named by the first layer that has a name for it.
std::map<int64_t, std::string> legend_entries(const std::vector<LabelLayer>& layers) {
  std::map<int64_t, std::string> entries;
  for (const auto& layer : layers) {
    const torch::Tensor counts = torch::bincount(layer.labels->data.round().clamp_min(0).to(torch::kInt32).flatten());
    for (int64_t k = 1; k < counts.size(0); ++k) {
      if (counts[k].item<int64_t>() > 0) entries[k] = "";
    }
  }
  for (auto& [k, name] : entries) {
    const auto named = std::find_if(layers.begin(), layers.end(),
                                    [k = k](const LabelLayer& l) { return k < static_cast<int64_t>(l.labels->label_names.size()); });
    name = label_name(named != layers.end() ? *named->labels : *layers.front().labels, k);
  }
  return entries;
}

// The three views' slices through `centre`, at square pixels of `mm`: the image windowed to [0, 1], and
// each layer's labels; the widest slice's width and each row's height.
struct Cells {
  std::array<torch::Tensor, 3> grey;
  std::array<std::vector<torch::Tensor>, 3> labels;
  int width = 0;
  std::array<int, 3> heights{};
};

Cells slice_cells(const torch::Tensor& values, const std::vector<LabelLayer>& layers, const Canonical& img, const std::array<int64_t, 3>& centre,
                  const DisplayWindow& window, double mm) {
  Cells cells;
  for (int v = 0; v < 3; ++v) {
    const ViewSpec& view = kViews[v];
    const double row_mm = img.spacing[view.row_axis], column_mm = img.spacing[view.column_axis];
    const torch::Tensor slice = display_slice(values, img, view, centre[view.normal]).to(torch::kFloat32);
    const torch::Tensor grey = ((slice - (window.level - window.width / 2)) / window.width).clamp(0, 1);
    cells.grey[v] = to_square_pixels(grey, row_mm, column_mm, mm).contiguous();
    for (const auto& layer : layers) {
      const torch::Tensor labels = display_slice(layer.labels->data.cpu(), img, view, centre[view.normal]).round().to(torch::kInt64);
      cells.labels[v].push_back(to_square_pixels(labels, row_mm, column_mm, mm).contiguous());
    }
    cells.width = std::max(cells.width, static_cast<int>(cells.grey[v].size(1)));
    cells.heights[v] = static_cast<int>(cells.grey[v].size(0));
  }
  return cells;
}

std::string format_window(const DisplayWindow& w) { return fmt::format("W{:g}/L{:g}", w.width, w.level); }

}  // namespace

DisplayWindow parse_window(const std::string& text) {
  static const std::map<std::string, DisplayWindow> presets{{"abdomen", {400, 40, "CT abdomen"}},
                                                           {"lung", {1500, -600, "CT lung"}},
                                                           {"bone", {1800, 400, "CT bone"}},
                                                           {"brain", {80, 40, "CT brain"}}};
  if (const auto it = presets.find(text); it != presets.end()) return it->second;
  double width = 0, level = 0;
  char slash = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%lf%c%lf%c", &width, &slash, &level, &extra) != 3 || slash != '/' || !(width > 0) || !std::isfinite(level)) {
    fail("--window '{}': expected abdomen, lung, bone, brain, or WIDTH/LEVEL with a positive width (e.g. 400/40)", text);
  }
  return {width, level, "given"};
}

DisplayWindow choose_window(const Volume& image) {
  const torch::Tensor values = image.data.dim() == 4 ? image.data[0] : image.data;
  const DicomSeriesDetails* dicom = dicom_series_details(image);
  const torch::Tensor sample = sample_of(values);
  if (dicom && !dicom->modality.empty()) {
    if (dicom->modality == "CT") return {400, 40, "CT abdomen (modality CT)"};
  } else if (quantile_of(sample, 0.01) <= -500) {
    return {400, 40, "CT abdomen (air in the image)"};
  }
  const torch::Tensor foreground = sample.masked_select(sample > sample.min());
  const torch::Tensor basis = foreground.numel() > 0 ? foreground : sample;
  const double lo = quantile_of(basis, 0.01), hi = quantile_of(basis, 0.99);
  const double width = std::max(hi - lo, 1e-6);
  return {width, lo + width / 2, "foreground 1-99th percentile"};
}

Picture render_preview(const Volume& image, const std::vector<LabelLayer>& layers, const PreviewOptions& options, DisplayWindow* used) {
  const DisplayWindow window = options.window ? *options.window : choose_window(image);
  if (used) *used = window;
  const torch::Tensor values = (image.data.dim() == 4 ? image.data[0] : image.data).cpu();
  const Canonical img = canonical_layout(image.spatial_shape(), image.affine);
  for (const auto& layer : layers) {
    if (layer.labels->spatial_shape() != image.spatial_shape()) fail("preview: '{}' has another shape than the image", layer.title);
  }
  const auto centre = slice_centre(layers, img);
  double extent = 0;
  for (int a = 0; a < 3; ++a) extent = std::max(extent, static_cast<double>(img.size[a]) * img.spacing[a]);
  const double mm = extent / options.cell_pixels;

  const Cells cells = slice_cells(values, layers, img, centre, window, mm);
  // Layout: a title, column titles, three rows of cells, the legend, the window line.
  const int pad = 6, title_h = options.title.empty() ? 0 : 30, header_h = 22, caption_h = 14, legend_row_h = 20, footer_h = 20;
  const int columns = 1 + static_cast<int>(layers.size()), cell_w = cells.width;
  const auto& row_h = cells.heights;
  const auto legend = legend_entries(layers);
  const int width = std::max(columns * (cell_w + pad) + pad, 420);
  const int per_line = std::max(1, (width - pad) / 150);
  const int legend_h = legend.empty() ? 0 : legend_row_h * static_cast<int>((legend.size() + per_line - 1) / per_line) + pad;
  const int height = title_h + header_h + row_h[0] + row_h[1] + row_h[2] + 3 * (pad + caption_h) + legend_h + footer_h;
  Canvas canvas(width, height, {16, 16, 16});
  std::vector<Text> texts;
  if (!options.title.empty()) texts.push_back({width / 2.0, title_h / 2.0, 0.5, options.title, kWhite, 1.1});
  for (int c = 0; c < columns; ++c) {
    const std::string header = c == 0 ? "image" : layers[c - 1].title;
    texts.push_back({pad + c * (cell_w + pad) + cell_w / 2.0, title_h + header_h / 2.0, 0.5, header, kWhite, 0.9});
  }
  // Where the slices meet, in world mm: each row's caption gives its coordinate.
  const torch::Tensor position = torch::matmul(img.affine, torch::tensor({static_cast<double>(centre[0]), static_cast<double>(centre[1]),
                                                                          static_cast<double>(centre[2]), 1.0}, torch::kFloat64));
  int y = title_h + header_h;
  for (int v = 0; v < 3; ++v) {
    const ViewSpec& view = kViews[v];
    const int w = static_cast<int>(cells.grey[v].size(1)), h = row_h[v];
    const double at_mm = position[view.normal].item<double>();
    // The row's caption above it: the view and where its slice lies.
    texts.push_back({pad + 2.0, y + caption_h / 2.0, 0, fmt::format("{}, {} = {:.1f} mm", view.name, view.coordinate, at_mm), kGrey, 0.6});
    y += caption_h;
    for (int c = 0; c < columns; ++c) {
      const int x0 = pad + c * (cell_w + pad) + (cell_w - w) / 2;
      draw_cell(canvas, x0, y, cells.grey[v], c == 0 ? nullptr : &cells.labels[v][c - 1], options.style);
      const auto& L = view.letters;
      texts.push_back({x0 + 3.0, y + h / 2.0, 0, std::string(1, L[0]), kYellow, 0.8});
      texts.push_back({x0 + w - 3.0, y + h / 2.0, 1, std::string(1, L[1]), kYellow, 0.8});
      texts.push_back({x0 + w / 2.0, y + 8.0, 0.5, std::string(1, L[2]), kYellow, 0.8});
      texts.push_back({x0 + w / 2.0, y + h - 8.0, 0.5, std::string(1, L[3]), kYellow, 0.8});
    }
    y += h + pad;
  }
  int entry = 0;
  for (const auto& [k, name] : legend) {
    const int lx = pad + (entry % per_line) * 150, ly = y + (entry / per_line) * legend_row_h;
    canvas.fill(lx, ly + 4, 12, 12, label_colour(k));
    texts.push_back({lx + 16.0, ly + 10.0, 0, fmt::format("{} {}", k, name), kWhite, 0.8});
    ++entry;
  }
  y += legend_h;
  texts.push_back({width / 2.0, y + footer_h / 2.0, 0.5,
                   fmt::format("{} {} - RAS mm - patient's right on the left", format_window(window), window.name), kGrey, 0.6});
  draw_texts(canvas, texts);
  return {canvas.width, canvas.height, std::move(canvas.rgb)};
}

DisplayWindow write_preview(const Volume& image, const std::vector<LabelLayer>& layers, const std::string& png_path,
                            const PreviewOptions& options) {
  if (!ends_with(png_path, ".png")) fail("preview {}: expected a .png file (the previews are PNG pictures)", png_path);
  DisplayWindow used;
  const Picture picture = render_preview(image, layers, options, &used);
  write_png(png_path, picture.rgb.data(), picture.width, picture.height);
  return used;
}

}  // namespace repux
