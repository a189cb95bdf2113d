#pragma once
// PNG files through libpng, for the pictures of the training curves and the overlays.
#include <string>

namespace repux {

// Writes an RGB image (height * width * 3 bytes, rows top to bottom) as PNG, atomically.
void write_png(const std::string& path, const unsigned char* rgb, int width, int height);

}  // namespace repux
