#include "repux/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace repux {

double LrSchedule::at(int64_t it) const {
  if (warmup > 0 && it < warmup) return base * static_cast<double>(it + 1) / static_cast<double>(warmup);
  const double progress = static_cast<double>(it - warmup) / static_cast<double>(std::max<int64_t>(1, iterations - warmup));
  switch (kind) {
    case Schedule::Cosine: return base * 0.5 * (1 + std::cos(M_PI * progress));
    case Schedule::Poly: return base * std::pow(1 - progress, 0.9);
    case Schedule::None: break;
  }
  return base;
}

}  // namespace repux
