#include "repux/io/geometry.h"

#include "repux/error.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace repux {
namespace {

int64_t spatial_offset(const torch::Tensor& data) {
  if (data.dim() != 3 && data.dim() != 4) fail("expected a [D,H,W] or [C,D,H,W] tensor, got {} dimensions", data.dim());
  return data.dim() - 3;
}

torch::Tensor translation(const std::array<int64_t, 3>& offset) {
  auto t = torch::eye(4, torch::kFloat64);
  for (int i = 0; i < 3; ++i) t[i][3] = static_cast<double>(offset[i]);
  return t;
}

}  // namespace

bool Orientation::is_identity() const {
  for (int i = 0; i < 3; ++i) {
    if (world_axis[i] != i || flipped[i]) return false;
  }
  return true;
}

Orientation io_orientation(const torch::Tensor& affine) {
  auto rzs = affine.to(torch::kCPU, torch::kFloat64).slice(0, 0, 3).slice(1, 0, 3);
  auto zooms = rzs.pow(2).sum(0).sqrt();
  zooms = torch::where(zooms == 0, torch::ones_like(zooms), zooms);
  auto rs = rzs / zooms;
  // The closest orthogonal matrix to the direction cosines (as nibabel), then a greedy assignment
  // of each voxel axis to the world axis it is most aligned with.
  auto svd = torch::linalg_svd(rs, false);
  const auto& u = std::get<0>(svd);
  const auto& s = std::get<1>(svd);
  const auto& vh = std::get<2>(svd);
  const double tol = s.max().item<double>() * 3 * std::numeric_limits<double>::epsilon();
  auto keep = (s > tol).to(torch::kFloat64);
  auto r = torch::matmul(u * keep, vh).contiguous();
  auto acc = r.accessor<double, 2>();
  Orientation o;
  for (int in_axis = 0; in_axis < 3; ++in_axis) {
    int best = -1;
    double best_abs = 0.0;
    for (int out_axis = 0; out_axis < 3; ++out_axis) {
      const double v = std::abs(acc[out_axis][in_axis]);
      if (v > best_abs + 1e-12) {
        best_abs = v;
        best = out_axis;
      }
    }
    if (best < 0) fail("affine is degenerate: voxel axis {} has no direction", in_axis);
    o.world_axis[in_axis] = best;
    o.flipped[in_axis] = acc[best][in_axis] < 0;
    for (int c = 0; c < 3; ++c) acc[best][c] = 0.0;
  }
  return o;
}

std::string orientation_code(const torch::Tensor& affine) {
  static const char positive[3] = {'R', 'A', 'S'};
  static const char negative[3] = {'L', 'P', 'I'};
  const Orientation o = io_orientation(affine);
  std::string code;
  for (int i = 0; i < 3; ++i) code += o.flipped[i] ? negative[o.world_axis[i]] : positive[o.world_axis[i]];
  return code;
}

Volume reorient_to_ras(const Volume& volume, Orientation* applied) {
  const Orientation o = io_orientation(volume.affine);
  if (applied) *applied = o;
  if (o.is_identity()) return volume;
  const int64_t off = spatial_offset(volume.data);
  const auto shape = volume.spatial_shape();

  std::vector<int64_t> flip_dims;
  for (int i = 0; i < 3; ++i) {
    if (o.flipped[i]) flip_dims.push_back(off + i);
  }
  torch::Tensor data = flip_dims.empty() ? volume.data : volume.data.flip(flip_dims);
  std::vector<int64_t> perm(volume.data.dim());
  for (int64_t c = 0; c < off; ++c) perm[c] = c;
  for (int i = 0; i < 3; ++i) perm[off + o.world_axis[i]] = off + i;

  // Voxel index in the new grid -> index in the old grid (nibabel's inv_ornt_aff).
  auto to_old = torch::zeros({4, 4}, torch::kFloat64);
  to_old[3][3] = 1.0;
  for (int i = 0; i < 3; ++i) {
    to_old[i][o.world_axis[i]] = o.flipped[i] ? -1.0 : 1.0;
    to_old[i][3] = o.flipped[i] ? static_cast<double>(shape[i] - 1) : 0.0;
  }
  Volume out = volume;
  out.data = data.permute(perm).contiguous();
  out.affine = torch::matmul(volume.affine.to(torch::kFloat64), to_old);
  return out;
}

torch::Tensor undo_reorientation(const torch::Tensor& ras_data, const Orientation& applied) {
  if (applied.is_identity()) return ras_data;
  const int64_t off = spatial_offset(ras_data);
  std::vector<int64_t> perm(ras_data.dim());
  for (int64_t c = 0; c < off; ++c) perm[c] = c;
  for (int i = 0; i < 3; ++i) perm[off + i] = off + applied.world_axis[i];
  std::vector<int64_t> flip_dims;
  for (int i = 0; i < 3; ++i) {
    if (applied.flipped[i]) flip_dims.push_back(off + i);
  }
  auto data = ras_data.permute(perm);
  if (!flip_dims.empty()) data = data.flip(flip_dims);
  return data.contiguous();
}

namespace {

// out[.., i, ..] = a + (b - a) * w[i] with a, b the source rows lo[i], hi[i] along the dimension: [outer, n,
// inner] -> [outer, m, inner], one pass, parallel over the output rows (or over the outer rows when the
// dimension is the innermost).
template <class T>
void interpolate_rows(const T* in, T* out, int64_t outer, int64_t n, int64_t m, int64_t inner, const int64_t* lo, const int64_t* hi,
                      const T* w) {
  if (inner == 1) {
    at::parallel_for(0, outer, std::max<int64_t>(1, 16384 / m), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const T* row = in + o * n;
        T* y = out + o * m;
        for (int64_t i = 0; i < m; ++i) y[i] = row[lo[i]] + (row[hi[i]] - row[lo[i]]) * w[i];
      }
    });
    return;
  }
  at::parallel_for(0, outer * m, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t o = j / m, i = j % m;
      const T* a = in + (o * n + lo[i]) * inner;
      const T* b = in + (o * n + hi[i]) * inner;
      const T wi = w[i];
      T* y = out + j * inner;
      for (int64_t k = 0; k < inner; ++k) y[k] = a[k] + (b[k] - a[k]) * wi;
    }
  });
}

// Linear interpolation along dimension `dim` at source positions `position` (float64, one per output
// index), clamped to the border as grid_sample's border padding clamps. CPU float32/float64 tensors in
// one pass without temporaries (restoring a 157M-voxel CT's probabilities spent most of its time in the
// index_select, subtract, multiply and add of the general path, each a pass with a new tensor).
torch::Tensor interpolate_along(const torch::Tensor& data, int64_t dim, const torch::Tensor& position) {
  const int64_t n = data.size(dim);
  const auto p = position.clamp(0, static_cast<double>(n - 1));
  const auto lo = p.floor().to(torch::kInt64).clamp_max(n - 1), hi = (lo + 1).clamp_max(n - 1);
  const auto fraction = (p - lo.to(torch::kFloat64)).to(data.scalar_type());
  const bool fast = data.device().is_cpu() && (data.scalar_type() == torch::kFloat32 || data.scalar_type() == torch::kFloat64);
  if (fast) {
    const auto x = data.contiguous();
    auto sizes = x.sizes().vec();
    const int64_t m = position.numel(), inner = x.stride(dim), outer = x.numel() == 0 ? 0 : x.numel() / (n * inner);
    sizes[static_cast<size_t>(dim)] = m;
    auto out = torch::empty(sizes, x.options());
    if (out.numel() == 0) return out;
    if (x.scalar_type() == torch::kFloat32)
      interpolate_rows(x.data_ptr<float>(), out.data_ptr<float>(), outer, n, m, inner, lo.data_ptr<int64_t>(), hi.data_ptr<int64_t>(),
                       fraction.data_ptr<float>());
    else
      interpolate_rows(x.data_ptr<double>(), out.data_ptr<double>(), outer, n, m, inner, lo.data_ptr<int64_t>(), hi.data_ptr<int64_t>(),
                       fraction.data_ptr<double>());
    return out;
  }
  std::vector<int64_t> shape(static_cast<size_t>(data.dim()), 1);
  shape[static_cast<size_t>(dim)] = -1;
  const auto weight = fraction.to(data.device()).view(shape);
  const auto a = data.index_select(dim, lo.to(data.device())), b = data.index_select(dim, hi.to(data.device()));
  return a.add_((b - a).mul_(weight));
}

// When the target's axes are the source's, scaled and shifted (as resampling to a spacing makes them),
// trilinear interpolation is three one-dimensional ones. Unlike LibTorch's 3-D grid_sample, which runs on
// one thread over the voxels, these are vectorised and parallel: restoring 104 classes onto a
// 512x512x600 CT took minutes through grid_sample.
bool axis_aligned(const torch::Tensor& index_map) {
  const auto m = index_map.accessor<double, 2>();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      if (a != b && std::abs(m[a][b]) > 1e-9) return false;
    }
  return true;
}

torch::Tensor resample_separable(const torch::Tensor& input, const torch::Tensor& index_map, const std::array<int64_t, 3>& target_shape) {
  const auto m = index_map.accessor<double, 2>();
  auto out = input;  // [C, D, H, W]
  // The first axis (the one a slab of rows is short in) first where that leaves no more rows than
  // there are (one restored row from two source rows: the other passes then work on one row), else last
  // (a slab of several rows from fewer source rows).
  const bool first_axis_first = target_shape[0] <= input.size(1);
  for (const int axis : first_axis_first ? std::array<int, 3>{0, 2, 1} : std::array<int, 3>{2, 1, 0}) {
    const auto position = torch::arange(target_shape[axis], torch::kFloat64) * m[axis][axis] + m[axis][3];
    out = interpolate_along(out, axis + 1, position);
  }
  return out;
}

}  // namespace

torch::Tensor resample_to_grid(const torch::Tensor& data, const torch::Tensor& source_affine,
                               const torch::Tensor& target_affine, const std::array<int64_t, 3>& target_shape,
                               Interpolation interpolation) {
  const int64_t off = spatial_offset(data);
  for (int i = 0; i < 3; ++i) {
    if (target_shape[i] <= 0) fail("resampling target size {} along axis {} is not positive", target_shape[i], i);
  }
  const auto dtype = data.is_floating_point() ? data.scalar_type() : torch::kFloat32;
  auto input = data.to(dtype);
  if (off == 0) input = input.unsqueeze(0);

  // Target voxel index -> source voxel index.
  auto index_map = torch::matmul(torch::inverse(source_affine.to(torch::kCPU, torch::kFloat64)),
                                 target_affine.to(torch::kCPU, torch::kFloat64));
  if (interpolation == Interpolation::Linear && axis_aligned(index_map)) {
    auto out = resample_separable(input, index_map, target_shape);
    return (off == 0 ? out.squeeze(0) : out).to(data.scalar_type());
  }
  input = input.unsqueeze(0);  // [1, C, D, H, W]
  const std::array<int64_t, 3> source_shape{input.size(2), input.size(3), input.size(4)};
  const auto options = torch::TensorOptions().dtype(dtype).device(data.device());
  auto linear = index_map.slice(0, 0, 3).slice(1, 0, 3).to(options);
  auto shift = index_map.slice(0, 0, 3).select(1, 3).to(options);
  auto grids = torch::meshgrid({torch::arange(target_shape[0], options), torch::arange(target_shape[1], options),
                                torch::arange(target_shape[2], options)},
                               "ij");
  auto target_index = torch::stack({grids[0], grids[1], grids[2]}, -1);       // [D,H,W,3]
  auto source_index = torch::matmul(target_index, linear.t()) + shift;        // [D,H,W,3]
  // grid_sample wants (x, y, z) = (W, H, D) in [-1, 1] with align_corners = true.
  std::vector<torch::Tensor> normalised;
  for (int axis = 2; axis >= 0; --axis) {
    const double n = static_cast<double>(source_shape[axis]);
    auto p = source_index.select(-1, axis);
    normalised.push_back(n > 1 ? p * (2.0 / (n - 1.0)) - 1.0 : torch::zeros_like(p));
  }
  auto grid = torch::stack(normalised, -1).unsqueeze(0);
  const int64_t mode = interpolation == Interpolation::Linear ? 0 : 1;
  auto out = torch::grid_sampler(input, grid, mode, /*padding_mode=border*/ 1, /*align_corners=*/true).squeeze(0);
  if (off == 0) out = out.squeeze(0);
  return out.to(data.scalar_type());
}

// 2^31 voxels: a 1024 x 1024 x 2048 volume, 8 GB in float32.
constexpr double kMaxResampledVoxels = 2147483648.0;

Volume resample_to_spacing(const Volume& volume, const std::array<double, 3>& spacing, Interpolation interpolation) {
  const auto old_spacing = volume.spacing();
  const auto shape = volume.spatial_shape();
  std::array<int64_t, 3> new_shape{};
  auto new_affine = volume.affine.to(torch::kFloat64).clone();
  for (int i = 0; i < 3; ++i) {
    if (!(spacing[i] > 0) || !std::isfinite(spacing[i])) fail("target spacing {} along axis {} is not a positive number", spacing[i], i);
    const double scale = spacing[i] / old_spacing[i];
    const double size = static_cast<double>(shape[i]) / scale;
    if (!(size < 1e5)) fail("resampling {} voxels of {} mm to {} mm along axis {} would give {:.0f} voxels", shape[i], old_spacing[i], spacing[i], i, size);
    new_shape[i] = std::max<int64_t>(1, std::llround(size));
    new_affine.slice(0, 0, 3).select(1, i).mul_(scale);
  }
  // A bound where the size is decided: a recipe with 0.05 mm spacing would otherwise allocate
  // hundreds of GB before failing somewhere deep in the resampler.
  const double voxels = static_cast<double>(new_shape[0]) * new_shape[1] * new_shape[2] * std::max<int64_t>(1, volume.channels());
  if (voxels > kMaxResampledVoxels) {
    fail("resampling to {}x{}x{} mm gives {}x{}x{} voxels, more than the {:.0f} this program resamples at once (check the spacing)",
         spacing[0], spacing[1], spacing[2], new_shape[0], new_shape[1], new_shape[2], kMaxResampledVoxels);
  }
  Volume out = volume;
  out.data = resample_to_grid(volume.data, volume.affine, new_affine, new_shape, interpolation);
  out.affine = new_affine;
  return out;
}

torch::Tensor crop_or_pad(const torch::Tensor& data, const std::array<int64_t, 3>& start,
                          const std::array<int64_t, 3>& size, double fill) {
  // The part inside the volume is cut out first and only it is padded: `data` may be a memory-mapped
  // case on disk, of which a crop must read just its own pages.
  const int64_t off = spatial_offset(data);
  std::vector<int64_t> pads(6);
  auto inside = data;
  bool empty = false;
  for (int i = 0; i < 3; ++i) {
    if (size[i] <= 0) fail("crop size {} along axis {} is not positive", size[i], i);
    const int64_t n = data.size(off + i);
    const int64_t lo = std::clamp<int64_t>(start[i], 0, n), hi = std::clamp<int64_t>(start[i] + size[i], 0, n);
    empty = empty || hi <= lo;
    inside = inside.narrow(off + i, lo, std::max<int64_t>(0, hi - lo));
    pads[2 * (2 - i)] = lo - start[i];
    pads[2 * (2 - i) + 1] = start[i] + size[i] - hi;
  }
  if (empty) {
    auto shape = data.sizes().vec();
    for (int i = 0; i < 3; ++i) shape[off + i] = size[i];
    return torch::full(shape, fill, data.options());
  }
  return torch::constant_pad_nd(inside, pads, fill).contiguous();
}

Volume crop_or_pad(const Volume& volume, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size,
                   double fill) {
  Volume out = volume;
  out.data = crop_or_pad(volume.data, start, size, fill);
  out.affine = torch::matmul(volume.affine.to(torch::kFloat64), translation(start));
  return out;
}

void bounding_box(const torch::Tensor& mask, std::array<int64_t, 3>& start, std::array<int64_t, 3>& size) {
  if (mask.dim() != 3) fail("bounding_box expects a [D,H,W] mask, got {} dimensions", mask.dim());
  auto m = mask.to(torch::kUInt8);
  const std::array<std::vector<int64_t>, 3> reduce_dims{{{1, 2}, {0, 2}, {0, 1}}};
  for (int i = 0; i < 3; ++i) {
    auto nz = torch::nonzero(m.amax(reduce_dims[i])).flatten().cpu();
    if (nz.numel() == 0) {
      start = {0, 0, 0};
      size = {mask.size(0), mask.size(1), mask.size(2)};
      return;
    }
    start[i] = nz.min().item<int64_t>();
    size[i] = nz.max().item<int64_t>() - start[i] + 1;
  }
}

}  // namespace repux
