#include "repux/data/restore.h"

#include "repux/error.h"

#include "repux/shape_string.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace repux {

namespace {

// The affine of the grid that starts `rows` rows further along voxel axis 0.
torch::Tensor shift_rows(const torch::Tensor& affine, int64_t rows) {
  auto out = affine.to(torch::kFloat64).clone();
  out.slice(0, 0, 3).select(1, 3).add_(out.slice(0, 0, 3).select(1, 0) * static_cast<double>(rows));
  return out;
}

// Background everywhere: probability 1 for class 0 (or nothing: every channel 0).
torch::Tensor background(int64_t classes, int64_t rows, int64_t height, int64_t width, const torch::TensorOptions& options, OutsideCrop outside) {
  auto out = torch::zeros({classes, rows, height, width}, options);
  if (outside == OutsideCrop::Background) out[0].fill_(1.0);
  return out;
}

Grid grid_in_frame(const Grid& grid, const std::array<int64_t, 3>& frame) {
  Grid out{grid.affine.to(torch::kFloat64).clone(), grid.shape};
  for (int p = 0; p < 3; ++p) {
    out.affine.select(1, p).copy_(grid.affine.select(1, frame[p]));
    out.shape[p] = grid.shape[frame[p]];
  }
  return out;
}

}  // namespace

PreprocessTrace trace_in_frame(const PreprocessTrace& trace, const std::array<int64_t, 3>& frame) {
  PreprocessTrace out = trace;
  out.ras = grid_in_frame(trace.ras, frame);
  out.resampled = grid_in_frame(trace.resampled, frame);
  for (int p = 0; p < 3; ++p) {
    out.crop_start[p] = trace.crop_start[frame[p]];
    out.crop_size[p] = trace.crop_size[frame[p]];
  }
  return out;
}

ProbabilityRestorer::ProbabilityRestorer(const PreprocessTrace& trace, int64_t classes, RasRowSink sink, int64_t slab_bytes, OutsideCrop outside)
    : trace_(trace), classes_(classes), outside_(outside), sink_(std::move(sink)) {
  const auto& ras = trace_.ras.shape;
  rows_per_slab_ = std::max<int64_t>(1, slab_bytes / std::max<int64_t>(1, classes * ras[1] * ras[2] * 4));
  same_grid_ = trace_.resampled.shape == ras && torch::equal(trace_.resampled.affine, trace_.ras.affine);
  // Resampling scales the axes of the RAS grid, so a row of one grid maps onto rows of the other.
  // Should the map mix axis 0 with the others, every row waits for the whole source (still exact).
  const auto map = torch::matmul(torch::inverse(trace_.resampled.affine.to(torch::kFloat64)), trace_.ras.affine.to(torch::kFloat64));
  const auto m = map.accessor<double, 2>();
  if (std::abs(m[0][1]) < 1e-9 && std::abs(m[0][2]) < 1e-9 && m[0][0] > 0) {
    row_scale_ = m[0][0];
    row_shift_ = m[0][3];
  } else {
    row_scale_ = 0.0;  // see source_rows_needed
  }
}

// The source rows a RAS row is interpolated from, with a margin for the resampler's float32 index
// arithmetic (a point a hair from a row may land on either side of it).
std::array<int64_t, 2> ProbabilityRestorer::source_rows_needed(int64_t ras_row) const {
  const int64_t last = trace_.resampled.shape[0] - 1;
  if (same_grid_) return {ras_row, ras_row};
  if (row_scale_ == 0.0) return {0, last};
  const double q = row_scale_ * static_cast<double>(ras_row) + row_shift_;
  const auto lo = static_cast<int64_t>(std::floor(q - 1e-3)), hi = static_cast<int64_t>(std::floor(q + 1e-3)) + 1;
  return {std::clamp<int64_t>(lo, 0, last), std::clamp<int64_t>(hi, 0, last)};
}

void ProbabilityRestorer::push_source(const torch::Tensor& rows) {
  buffer_ = buffer_.defined() ? torch::cat({buffer_, rows}, 1) : rows.clone();
  received_ += rows.size(1);
  hand_on_ready_rows();
}

void ProbabilityRestorer::push_background(int64_t until_row) {
  const auto& shape = trace_.resampled.shape;
  while (received_ < until_row) {
    push_source(background(classes_, std::min(rows_per_slab_, until_row - received_), shape[1], shape[2], options_, outside_));
  }
}

void ProbabilityRestorer::add(const torch::Tensor& rows) {
  const auto& start = trace_.crop_start;
  const auto& size = trace_.crop_size;
  if (rows.dim() != 4 || rows.size(0) != classes_ || rows.size(2) != size[1] || rows.size(3) != size[2]) {
    fail("restoring probabilities: expected [{}, n, {}, {}] rows, got {}", classes_, size[1], size[2], shape_string(rows.sizes()));
  }
  if (cropped_received_ + rows.size(1) > size[0]) fail("restoring probabilities: more rows than the {} of the crop", size[0]);
  options_ = rows.options();
  push_background(start[0]);
  const auto& shape = trace_.resampled.shape;
  if (size[1] == shape[1] && size[2] == shape[2]) {
    push_source(rows);
  } else {  // outside the crop the image was background
    auto full = background(classes_, rows.size(1), shape[1], shape[2], rows.options(), outside_);
    full.slice(2, start[1], start[1] + size[1]).slice(3, start[2], start[2] + size[2]).copy_(rows);
    push_source(full);
  }
  cropped_received_ += rows.size(1);
}

void ProbabilityRestorer::finish() {
  if (cropped_received_ != trace_.crop_size[0]) {
    fail("restoring probabilities: {} of the crop's {} rows were given", cropped_received_, trace_.crop_size[0]);
  }
  push_background(trace_.resampled.shape[0]);
  hand_on_ready_rows();
}

void ProbabilityRestorer::hand_on_ready_rows() {
  const auto& ras = trace_.ras.shape;
  while (next_ras_row_ < ras[0]) {
    const int64_t first = next_ras_row_;
    int64_t end = first + std::min(ras[0] - first, rows_per_slab_);
    while (end > first && source_rows_needed(end - 1)[1] >= received_) --end;
    if (end == first) return;
    const auto lo = source_rows_needed(first)[0], hi = source_rows_needed(end - 1)[1];
    const auto source = buffer_.slice(1, lo - buffer_first_, hi + 1 - buffer_first_);
    if (same_grid_) {
      sink_(first, source);
    } else {
      sink_(first, resample_to_grid(source, shift_rows(trace_.resampled.affine, lo), shift_rows(trace_.ras.affine, first),
                                    {end - first, ras[1], ras[2]}, Interpolation::Linear));
    }
    next_ras_row_ = end;
    // Source rows no later RAS row needs are let go.
    const int64_t keep = next_ras_row_ < ras[0] ? std::min(source_rows_needed(next_ras_row_)[0], received_) : received_;
    if (keep > buffer_first_) {
      buffer_ = keep < received_ ? buffer_.slice(1, keep - buffer_first_) : torch::Tensor();
      buffer_first_ = keep;
    }
  }
}

torch::Tensor restore_probabilities(const torch::Tensor& probabilities, const PreprocessTrace& trace, OutsideCrop outside) {
  if (probabilities.dim() != 4) fail("restore_probabilities expects [K, D, H, W], got {} dimensions", probabilities.dim());
  const auto& shape = trace.ras.shape;
  auto ras = torch::empty({probabilities.size(0), shape[0], shape[1], shape[2]}, probabilities.options());
  ProbabilityRestorer restorer(trace, probabilities.size(0), [&](int64_t row, const torch::Tensor& rows) {
    ras.slice(1, row, row + rows.size(1)).copy_(rows);
  }, std::numeric_limits<int64_t>::max(), outside);
  restorer.add(probabilities);
  restorer.finish();
  return undo_reorientation(ras, trace.orientation);
}

}  // namespace repux
