#include "repux/io/png.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"

#include <png.h>

#include <cstdio>

namespace repux {

void write_png(const std::string& path, const unsigned char* rgb, int width, int height) {
  AtomicFile out(path);
  FILE* f = std::fopen(out.temporary_path().c_str(), "wb");
  if (!f) fail("cannot write {}", path);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    fail("cannot write {}: PNG encoding failed", path);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, const_cast<png_bytep>(rgb + static_cast<size_t>(y) * width * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  close_checked(f, path);
  out.commit();
}

}  // namespace repux
