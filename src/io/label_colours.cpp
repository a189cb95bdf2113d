#include "repux/io/label_colours.h"

namespace repux {

Rgb label_colour(int64_t label) {
  // Distinct, saturated colours that stay visible over greyscale (red, green and blue first, as the
  // usual first three organs of an abdominal map: liver, spleen, kidney).
  static constexpr Rgb kColours[] = {{230, 60, 60},   {60, 200, 80},   {70, 120, 240},  {240, 200, 40},  {200, 80, 220},  {40, 210, 210},
                                     {250, 140, 40},  {150, 220, 100}, {255, 120, 170}, {130, 90, 200},  {0, 150, 110},   {190, 150, 90},
                                     {120, 180, 255}, {255, 230, 140}, {170, 40, 90},   {100, 110, 60}};
  if (label <= 0) return {0, 0, 0};
  return kColours[(label - 1) % (sizeof(kColours) / sizeof(kColours[0]))];
}

}  // namespace repux
