#pragma once

#include <cstdint>
#include <span>

#include "orchard/image/decode.h"
#include "orchard/image/image.h"

namespace orchard {

// A picture already decoded, laid out as OpenCV holds it and as Spark's image data source
// (`spark.read.format("image")`) hands it over: 8-bit samples, interleaved, rows packed (no padding),
// 1 channel = gray, 3 = B, G, R, 4 = B, G, R, A. `type` is the OpenCV type (CV_8UC1 = 0, CV_8UC3 = 16,
// CV_8UC4 = 24). `data` is a view: the caller keeps the bytes alive.
struct OpenCvPixels {
  int height = 0;
  int width = 0;
  int channels = 0;
  int type = 0;
  std::span<const std::uint8_t> data;
};

// The picture as the decoders return files (image.h: R, G, B): gray is replicated to three channels and
// alpha is dropped, as DecodeImage does for a gray or RGBA PNG, so the same pixels give the same Image
// whichever reader decoded them. Checked before anything is allocated, each failure an InputError naming
// the reason: non-positive sizes (Spark's row for a file it could not decode has -1 and no data), a type
// other than CV_8UC1/3/4 or not matching `channels`, more pixels than options.max_pixels (CheckDimensions),
// and data.size() != height * width * channels.
Image ImageFromOpenCv(const OpenCvPixels& pixels, const DecodeOptions& options);

}  // namespace orchard
