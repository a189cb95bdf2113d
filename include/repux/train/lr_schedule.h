#pragma once
// The learning rate of each iteration: an optional linear warm-up from base/warmup to base, then
// constant, cosine annealing to 0, or polynomial decay (1 - progress)^0.9 (nnU-Net's).
#include "repux/enum_names.h"

#include <cstdint>

namespace repux {

enum class Schedule { None, Cosine, Poly };
template <>
struct EnumNames<Schedule> {
  static constexpr const char* what = "learning-rate schedule";
  static constexpr std::pair<Schedule, const char*> table[] = {{Schedule::None, "none"}, {Schedule::Cosine, "cosine"}, {Schedule::Poly, "poly"}};
};

struct LrSchedule {
  Schedule kind = Schedule::None;
  double base = 1e-4;
  int64_t warmup = 0;        // iterations of linear warm-up
  int64_t iterations = 1;    // the whole run

  double at(int64_t iteration) const;  // iteration counts from 0
};

}  // namespace repux
