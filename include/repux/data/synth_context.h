#pragma once
// A synthetic task where context matters (for the kernel-size ablation): two organs of the same
// intensity, texture and size distribution, told apart only by which side of a distant landmark they
// lie on. In RAS: "organ_right" lies at smaller x (the patient's right) than the landmark, a bright
// rod along z 45-65 mm away (centre to centre), "organ_left" at larger x; the rod's position varies
// from case to case, so neither absolute position nor a local patch of the organ tells the classes
// apart: a network must see from the organ to the landmark. As real anatomy (spleen and liver are
// alike in intensity, told apart by where they are), and so train without left-right flips.
#include "repux/data/synth.h"
#include "repux/enum_names.h"

#include <cstdint>
#include <string>
#include <vector>

namespace repux {

// Which generator `repux synth` runs: the organs of make_synthetic_case (with the small organ or
// not), or this task.
enum class SynthTask { Organs, SmallOrgan, Context };
template <>
struct EnumNames<SynthTask> {
  static constexpr const char* what = "synthetic task";
  static constexpr std::pair<SynthTask, const char*> table[] = {{SynthTask::Organs, "organs"}, {SynthTask::SmallOrgan, "small-organ"}, {SynthTask::Context, "context"}};
};

// background, organ_right, organ_left, landmark
std::vector<std::string> context_class_names();

// About 240 x 180 x 100 mm at 1.5-2 mm spacing, int16 HU; labels uint8; orientation as the other
// generator (stored flipped along random axes, the affine keeping world positions).
SynthCase make_context_case(uint64_t seed);

std::string write_context_dataset(const std::string& directory, int64_t count, uint64_t seed);

}  // namespace repux
