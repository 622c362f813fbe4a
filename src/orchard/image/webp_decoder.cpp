#include <webp/decode.h>

#include <string>

#include "orchard/common/error.h"
#include "orchard/image/decoders.h"

namespace orchard::detail {
namespace {

std::string_view StatusText(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY:
      return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
      return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
      return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return "unsupported feature";
    case VP8_STATUS_SUSPENDED:
      return "suspended";
    case VP8_STATUS_USER_ABORT:
      return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return "truncated data";
    case VP8_STATUS_OK:
      break;
  }
  return "decoding failed";
}

}  // namespace

Image DecodeWebp(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (status != VP8_STATUS_OK) throw InputError("corrupt WebP: " + std::string(StatusText(status)));
  if (features.has_animation) throw InputError("animated WebP is not supported");
  CheckDimensions(static_cast<std::uint64_t>(features.width), static_cast<std::uint64_t>(features.height),
                  options);

  // Alpha, if any, is dropped: WebPDecodeRGBInto returns the colour channels as stored.
  Image image = AllocateImage(features.width, features.height);
  if (!WebPDecodeRGBInto(bytes.data(), bytes.size(), image.pixels.data(), image.pixels.size(),
                         static_cast<int>(image.stride()))) {
    throw InputError("corrupt or truncated WebP data");
  }
  return image;
}

}  // namespace orchard::detail
