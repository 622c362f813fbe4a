#pragma once

// Test-only encoders, so decode tests can build exactly the file they need (bit depth, palette, alpha,
// colour space) instead of relying on fixtures.

#include <cstdio>  // jpeglib.h needs FILE declared before it

// clang-format off
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <webp/encode.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace orchard::testing {

using Bytes = std::vector<std::uint8_t>;

inline std::filesystem::path SampleDir() {
  return std::filesystem::path(ORCHARD_SOURCE_DIR) / "../shared/data/fruits-360-sample";
}
inline std::filesystem::path OriginalSizeDir() {
  return std::filesystem::path(ORCHARD_SOURCE_DIR) / "../shared/data/fruits-360-original-size";
}

inline Bytes ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open test file " + path.string());
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// An image of one colour, packed RGB.
inline Bytes SolidRgb(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Bytes pixels(static_cast<std::size_t>(width) * height * 3);
  for (std::size_t i = 0; i < pixels.size(); i += 3) pixels[i] = r, pixels[i + 1] = g, pixels[i + 2] = b;
  return pixels;
}

// Low-level libpng writer. `raw` holds packed rows as PNG stores them (16-bit samples big-endian).
inline Bytes EncodePng(int width, int height, int color_type, int bit_depth, const Bytes& raw,
                       const std::vector<png_color>& palette = {}, const Bytes& palette_alpha = {}) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  Bytes out;
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, size_t size) {
        auto* sink = static_cast<Bytes*>(png_get_io_ptr(p));
        sink->insert(sink->end(), data, data + size);
      },
      nullptr);
  png_set_IHDR(png, info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  if (!palette_alpha.empty()) {
    png_set_tRNS(png, info, palette_alpha.data(), static_cast<int>(palette_alpha.size()), nullptr);
  }
  png_write_info(png, info);
  const std::size_t row_bytes = png_get_rowbytes(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, raw.data() + y * row_bytes);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

inline Bytes EncodeRgbPng(int width, int height, const Bytes& rgb) {
  return EncodePng(width, height, PNG_COLOR_TYPE_RGB, 8, rgb);
}

// Baseline (or progressive) JPEG at quality 100 without chroma subsampling, so solid colours survive nearly
// exactly; a restart marker every `restart_interval` MCUs when not 0.
inline Bytes EncodeJpeg(int width, int height, const Bytes& pixels, J_COLOR_SPACE color_space = JCS_RGB,
                        int components = 3, bool progressive = false, unsigned restart_interval = 0) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr errors{};
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = components;
  cinfo.in_color_space = color_space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  cinfo.restart_interval = restart_interval;
  for (int c = 0; c < cinfo.num_components; ++c) {
    cinfo.comp_info[c].h_samp_factor = 1;
    cinfo.comp_info[c].v_samp_factor = 1;
  }
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  const int stride = width * components;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes out(buffer, buffer + size);
  std::free(buffer);
  return out;
}

inline Bytes EncodeWebpLossless(int width, int height, const Bytes& rgb) {
  std::uint8_t* buffer = nullptr;
  const std::size_t size = WebPEncodeLosslessRGB(rgb.data(), width, height, width * 3, &buffer);
  if (size == 0) throw std::runtime_error("WebPEncodeLosslessRGB failed");
  Bytes out(buffer, buffer + size);
  WebPFree(buffer);
  return out;
}

// CRC-32 as PNG uses it, to re-seal a chunk after a test patches it.
inline std::uint32_t Crc32(const std::uint8_t* data, std::size_t size) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline void PutBigEndian32(std::uint8_t* at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
}

}  // namespace orchard::testing
