// JPEG through libjpeg-turbo's libjpeg API. libjpeg reports fatal errors by calling error_exit, which must
// not return; we longjmp back to the decoding function and turn the message into an InputError there.

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared before it
#include <string>

// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "orchard/common/error.h"
#include "orchard/image/decoders.h"

namespace orchard::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands back &pub, which we cast to the whole struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void ExitWithMessage(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  errors->pub.format_message(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// Each scan of a progressive JPEG is a pass over the whole image, and nothing bounds their number: a small
// hostile file with thousands of scans takes minutes to decode. libjpeg-turbo's own advice (djpeg -maxscans,
// TJPARAM_SCANLIMIT) is to stop at a limit; real encoders write about 10.
constexpr int kMaxScans = 500;

void LimitScans(j_common_ptr cinfo) {
  const auto* decompressor = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (decompressor->input_scan_number <= kMaxScans) return;
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  std::snprintf(errors->message, sizeof errors->message,
                "more than %d scans (refused: decoding would take too long)", kMaxScans);
  std::longjmp(errors->jump, 1);
}

// What each warning of libjpeg-turbo 2.1 (jerror.h's JWRN_* codes; Debian 12's libjpeg62-turbo) means for the
// pixels. libjpeg only warns and goes on, filling what it lost with grey: a warning that loses or guesses
// pixel data must be as fatal as an error, never a half-grey picture handed to the network; the harmless ones
// decode, as in PIL and OpenCV (the same library, which ignore every warning). A code missing here (a newer
// libjpeg) is fatal until someone reads what it means.
enum class Warning {
  kHarmless,
  kLosesData,
  // Bytes that are not part of any segment, skipped to reach the next marker: outside a scan (between header
  // segments, or after the last scan before EOI: padding some cameras and editors write) they carry nothing.
  // Before a restart marker they sit inside a scan, where they mean the entropy decoder finished the interval
  // without reaching its end: the data it decoded was not the data the encoder wrote.
  kLosesDataBeforeRestart,
};

struct WarningRule {
  int code;
  Warning verdict;
};

constexpr WarningRule kWarningRules[] = {
    {JWRN_ADOBE_XFORM, Warning::kHarmless},      // unknown Adobe colour transform: assumes YCbCr, as PIL
    {JWRN_ARITH_BAD_CODE, Warning::kLosesData},  // corrupt arithmetic-coded data
    // A progressive scan out of the expected order (e.g. a refinement repeated): applied as written, as every
    // decoder does; the cost of many scans is bounded by kMaxScans.
    {JWRN_BOGUS_PROGRESSION, Warning::kHarmless},
    {JWRN_EXTRANEOUS_DATA, Warning::kLosesDataBeforeRestart},
    {JWRN_HIT_MARKER, Warning::kLosesData},      // scan data ends before the image does
    {JWRN_HUFF_BAD_CODE, Warning::kLosesData},   // corrupt Huffman-coded data
    {JWRN_JFIF_MAJOR, Warning::kHarmless},       // unknown JFIF version: the header is still read
    {JWRN_JPEG_EOF, Warning::kLosesData},        // truncated file
    {JWRN_MUST_RESYNC, Warning::kLosesData},     // a restart marker missing or out of order
    {JWRN_NOT_SEQUENTIAL, Warning::kLosesData},  // a baseline frame with progressive scan parameters
    {JWRN_TOO_MUCH_DATA, Warning::kLosesData},   // more scanlines asked for than exist (never, here)
    {JWRN_BOGUS_ICC, Warning::kHarmless},        // broken ICC profile markers (the profile is not used)
};

bool IsRestartMarker(int marker) { return marker >= 0xD0 && marker <= 0xD7; }

bool LosesPixelData(const jpeg_error_mgr& errors) {
  for (const auto& rule : kWarningRules) {
    if (rule.code != errors.msg_code) continue;
    if (rule.verdict != Warning::kLosesDataBeforeRestart) return rule.verdict == Warning::kLosesData;
    return IsRestartMarker(errors.msg_parm.i[1]);  // JWRN_EXTRANEOUS_DATA's parameters: count, marker
  }
  return true;
}

void EmitMessage(j_common_ptr cinfo, int level) {
  // level >= 0 is a trace message; warnings are level -1.
  if (level < 0 && LosesPixelData(*cinfo->err)) ExitWithMessage(cinfo);
}

// Owns the decompressor. jpeg_destroy_decompress is a no-op on a zeroed struct, so this is safe even when
// jpeg_create_decompress itself failed.
struct Decompressor {
  jpeg_decompress_struct cinfo{};
  ErrorManager errors{};
  jpeg_progress_mgr progress{};
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  Decompressor() = default;
  ~Decompressor() { jpeg_destroy_decompress(&cinfo); }
};

// The smallest DCT scale M/8 that keeps both output sides >= the requested minimums (0 = no constraint).
int PickScaleNumerator(JDIMENSION width, JDIMENSION height, const DecodeOptions& options) {
  if (options.min_width <= 0 && options.min_height <= 0) return 8;
  auto scaled = [](JDIMENSION side, int m) { return (static_cast<std::uint64_t>(side) * m + 7) / 8; };
  for (int m = 1; m < 8; ++m) {
    if (scaled(width, m) >= static_cast<std::uint64_t>(std::max(options.min_width, 0)) &&
        scaled(height, m) >= static_cast<std::uint64_t>(std::max(options.min_height, 0))) {
      return m;
    }
  }
  return 8;
}

bool IsCmyk(const jpeg_decompress_struct& cinfo) {
  return cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
}

// libjpeg cannot convert CMYK to RGB itself. Adobe writes CMYK inverted (0 = full ink), which is what nearly
// all CMYK JPEGs in the wild are; plain CMYK without the Adobe marker is inverted first.
void CmykRowToRgb(const JSAMPLE* cmyk, std::uint8_t* rgb, JDIMENSION width, bool adobe_inverted) {
  // After this, 255 means no ink.
  auto no_ink = [adobe_inverted](JSAMPLE v) { return adobe_inverted ? int{v} : 255 - int{v}; };
  for (JDIMENSION x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const int k = no_ink(cmyk[3]);
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<std::uint8_t>((no_ink(cmyk[c]) * k + 127) / 255);
  }
}

void ReadRows(jpeg_decompress_struct& cinfo, Image& image) {
  const bool cmyk = cinfo.out_color_space == JCS_CMYK;
  JSAMPARRAY cmyk_row = cmyk ? (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE,
                                                          cinfo.output_width * 4, 1)
                             : nullptr;
  while (cinfo.output_scanline < cinfo.output_height) {
    std::uint8_t* out = image.pixels.data() + cinfo.output_scanline * image.stride();
    JSAMPROW row = cmyk ? cmyk_row[0] : out;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) CmykRowToRgb(cmyk_row[0], out, cinfo.output_width, cinfo.saw_Adobe_marker);
  }
}

// Every libjpeg call happens in here, because error_exit longjmps back to the setjmp below. Nothing with a
// destructor may be created between setjmp and a longjmp (it would be skipped), so all state lives in the
// caller's objects. Returns false when libjpeg failed; the message is in d.errors.message.
bool RunLibjpeg(Decompressor& d, std::span<const std::uint8_t> bytes, const DecodeOptions& options,
                Image& image) {
  jpeg_decompress_struct& cinfo = d.cinfo;
  cinfo.err = jpeg_std_error(&d.errors.pub);
  d.errors.pub.error_exit = ExitWithMessage;
  d.errors.pub.emit_message = EmitMessage;
  if (setjmp(d.errors.jump)) return false;

  jpeg_create_decompress(&cinfo);
  d.progress.progress_monitor = LimitScans;
  cinfo.progress = &d.progress;
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  CheckDimensions(cinfo.image_width, cinfo.image_height, options);

  cinfo.out_color_space = IsCmyk(cinfo) ? JCS_CMYK : JCS_RGB;  // libjpeg-turbo expands gray to RGB itself
  cinfo.scale_num = PickScaleNumerator(cinfo.image_width, cinfo.image_height, options);
  cinfo.scale_denom = 8;
  jpeg_start_decompress(&cinfo);
  image = AllocateImage(static_cast<int>(cinfo.output_width), static_cast<int>(cinfo.output_height));
  ReadRows(cinfo, image);
  // Reads up to EOI, so a file cut right after the last scan is still reported as truncated.
  jpeg_finish_decompress(&cinfo);
  return true;
}

}  // namespace

Image DecodeJpeg(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  Decompressor decompressor;
  Image image;
  if (!RunLibjpeg(decompressor, bytes, options, image)) {
    throw InputError(std::string("corrupt JPEG: ") + decompressor.errors.message);
  }
  return image;
}

}  // namespace orchard::detail
