// PNG through libpng's simplified API, which expands palette and gray, reduces 16-bit to 8 and handles
// interlacing for us.

#include <png.h>

#include <string>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/image/decoders.h"

namespace orchard::detail {
namespace {

// Frees libpng's read state on every path; png_image_free is a no-op once finish_read has cleaned up.
class PngReader {
 public:
  PngReader() { image_.version = PNG_IMAGE_VERSION; }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
  ~PngReader() { png_image_free(&image_); }

  png_image& get() { return image_; }
  [[noreturn]] void Fail() const { throw InputError(std::string("corrupt PNG: ") + image_.message); }

 private:
  png_image image_{};
};

// Drops the alpha byte of each RGBA pixel in place, turning the buffer into packed RGB.
void StripAlpha(std::vector<std::uint8_t>& rgba, std::size_t pixel_count) {
  for (std::size_t i = 0; i < pixel_count; ++i) {
    for (int c = 0; c < 3; ++c) rgba[3 * i + c] = rgba[4 * i + c];
  }
  rgba.resize(3 * pixel_count);
}

}  // namespace

Image DecodePng(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  PngReader reader;
  png_image& png = reader.get();
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) reader.Fail();
  CheckDimensions(png.width, png.height, options);

  // 16-bit files without gAMA/sRGB are, in practice, sRGB encoded like 8-bit ones (that is how OpenCV and
  // PIL read them); libpng would otherwise take them as linear and gamma-encode them on the way to 8 bits.
  png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  // Alpha is ignored, not composited: the colour channels are taken as stored, as OpenCV's and PIL's RGB
  // conversions do. libpng would composite if asked for RGB, so read RGBA and drop the alpha byte ourselves.
  const bool has_alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.format = has_alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;

  Image image = AllocateImage(static_cast<int>(png.width), static_cast<int>(png.height));
  const std::size_t pixel_count = static_cast<std::size_t>(png.width) * png.height;
  if (has_alpha) image.pixels.resize(4 * pixel_count);
  if (!png_image_finish_read(&png, /*background=*/nullptr, image.pixels.data(), /*row_stride=*/0,
                             /*colormap=*/nullptr)) {
    reader.Fail();
  }
  if (has_alpha) StripAlpha(image.pixels, pixel_count);
  return image;
}

}  // namespace orchard::detail
