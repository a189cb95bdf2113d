#pragma once
// Class probabilities from the preprocessed grid back onto the image's own grid: the inverse of
// preprocessing's crop and resampling, applied slab by slab as the rows of a prediction become final,
// so that K channels at the original resolution never have to exist at once (a 104-class model on a
// 512x512x600 CT would need 65 GB for them). Reorientation is undone by the caller, on labels.
#include "repux/data/preprocess.h"

#include <functional>

namespace repux {

// Receives probabilities [K, n, H, W] for rows [first_row, first_row + n) of the trace's `ras` grid
// (the image's grid reoriented to RAS), in order.
using RasRowSink = std::function<void(int64_t first_row, const torch::Tensor& probabilities)>;

// What lies outside the crop: the background class (channel 0) with probability 1, or, for the
// sigmoid outputs of region-based models, no channel at all (every region 0).
enum class OutsideCrop { Background, Nothing };

class ProbabilityRestorer {
 public:
  // slab_bytes bounds the size of one slab handed to the sink (at least one row).
  ProbabilityRestorer(const PreprocessTrace& trace, int64_t classes, RasRowSink sink, int64_t slab_bytes,
                      OutsideCrop outside = OutsideCrop::Background);

  // The next rows of the preprocessed (cropped) grid, [K, n, h, w], in order from its row 0.
  void add(const torch::Tensor& rows);
  // After the last row: hands on every row still pending. Throws if rows are missing.
  void finish();

 private:
  void push_source(const torch::Tensor& rows);
  void push_background(int64_t until_row);
  void hand_on_ready_rows();
  std::array<int64_t, 2> source_rows_needed(int64_t ras_row) const;

  PreprocessTrace trace_;
  int64_t classes_;
  OutsideCrop outside_;
  RasRowSink sink_;
  int64_t rows_per_slab_;
  bool same_grid_;
  double row_scale_ = 1.0, row_shift_ = 0.0;  // source row = scale * ras row + shift
  torch::TensorOptions options_;               // those of the rows given (dtype, device)
  torch::Tensor buffer_;                       // source rows [buffer_first_, received_)
  int64_t buffer_first_ = 0, received_ = 0, cropped_received_ = 0, next_ras_row_ = 0;
};

// The trace with the axes of its RAS, resampled and cropped grids reordered: axis p of the result is
// axis frame[p] of the trace's (affine columns, shapes, crop). For restoring rows that come along another
// axis than 0 (SlidingWindowOptions::row_axis); its `original` grid and orientation are left as they were.
PreprocessTrace trace_in_frame(const PreprocessTrace& trace, const std::array<int64_t, 3>& frame);

// The whole volume at once: [K, d, h, w] on the preprocessed grid -> [K, D, H, W] on the original grid;
// outside the crop the background has probability 1 (or, with OutsideCrop::Nothing, every channel 0).
torch::Tensor restore_probabilities(const torch::Tensor& probabilities, const PreprocessTrace& trace,
                                    OutsideCrop outside = OutsideCrop::Background);

}  // namespace repux
