#pragma once
// One colour per label value, shared by every output that colours structures: the DICOM SEG's
// recommended display colour, the RTSTRUCT's ROI display colour and the previews' overlays. A class
// keeps its colour in all three, so a structure looks the same in a PACS viewer, a planning system
// and repux's pictures.
#include <array>
#include <cstdint>

namespace repux {

using Rgb = std::array<uint8_t, 3>;

// Label 0 (background) is black; labels 1.. cycle through 16 distinct colours.
Rgb label_colour(int64_t label);

}  // namespace repux
