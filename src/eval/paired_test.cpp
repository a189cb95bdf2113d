#include "repux/eval/paired_test.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace repux {
namespace {

// Differences closer than this are one tie (Dice differences are sums of ratios, rounding apart).
constexpr double kTieTolerance = 1e-12;

// Average ranks (1-based) of `values`, sorted ascending, ties sharing their mean rank; doubled so
// that each is an integer.
std::vector<int64_t> doubled_average_ranks(const std::vector<double>& sorted) {
  std::vector<int64_t> ranks(sorted.size());
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] - sorted[i] <= kTieTolerance) ++j;
    const auto doubled = static_cast<int64_t>(i + 1 + j + 1);  // 2 x the mean of ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) ranks[k] = doubled;
    i = j + 1;
  }
  return ranks;
}

// P(sum of a random subset of `ranks`, each element in with probability 1/2, <= limit).
double probability_of_sum_at_most(const std::vector<int64_t>& ranks, int64_t limit) {
  const int64_t total = std::accumulate(ranks.begin(), ranks.end(), int64_t{0});
  std::vector<double> p(static_cast<size_t>(total) + 1, 0.0);
  p[0] = 1;
  int64_t reach = 0;
  for (const int64_t r : ranks) {
    reach += r;
    for (int64_t s = reach; s >= 0; --s) p[s] = 0.5 * p[s] + (s >= r ? 0.5 * p[s - r] : 0.0);
  }
  double at_most = 0;
  for (int64_t s = 0; s <= std::min(limit, total); ++s) at_most += p[s];
  return at_most;
}

}  // namespace

SignedRankResult wilcoxon_signed_rank(const std::vector<double>& differences) {
  std::vector<std::pair<double, bool>> items;  // |d|, positive
  for (const double d : differences) {
    if (std::abs(d) > kTieTolerance) items.emplace_back(std::abs(d), d > 0);
  }
  SignedRankResult result;
  result.pairs = static_cast<int64_t>(items.size());
  if (items.empty()) return result;
  std::sort(items.begin(), items.end());
  std::vector<double> magnitudes;
  for (const auto& item : items) magnitudes.push_back(item.first);
  const std::vector<int64_t> ranks = doubled_average_ranks(magnitudes);
  int64_t doubled_w_plus = 0, doubled_total = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    doubled_total += ranks[i];
    if (items[i].second) doubled_w_plus += ranks[i];
  }
  result.w_plus = doubled_w_plus / 2.0;
  // Two-sided: twice the tail on the side of the smaller of W+ and W-, the distribution being symmetric.
  const int64_t smaller = std::min(doubled_w_plus, doubled_total - doubled_w_plus);
  result.p_value = std::min(1.0, 2 * probability_of_sum_at_most(ranks, smaller));
  return result;
}

}  // namespace repux
