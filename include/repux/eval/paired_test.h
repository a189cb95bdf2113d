#pragma once
// Wilcoxon's signed-rank test: does one method score higher than another on the same items (here:
// the same held-out cases under the same training seeds)? Paired and distribution-free, as the
// segmentation literature's comparisons (nnU-Net Revisited, Isensee et al. 2024) expect.
#include <cstdint>
#include <vector>

namespace repux {

struct SignedRankResult {
  int64_t pairs = 0;      // non-zero differences (zero differences are dropped, Wilcoxon's own rule)
  double w_plus = 0;      // sum of the ranks of the positive differences (ties: average ranks)
  double p_value = 1;     // two-sided
};

// `differences`: one per pair (a - b). The p-value is exact: the null distribution of W+ is counted over
// all 2^n sign assignments of the observed ranks (ties included) by dynamic programming, so it holds
// for the small samples of an ablation, where the normal approximation does not.
SignedRankResult wilcoxon_signed_rank(const std::vector<double>& differences);

}  // namespace repux
