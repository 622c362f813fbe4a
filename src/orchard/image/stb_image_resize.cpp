// stb_image_resize's implementation, compiled here rather than linked from Debian's libstb: that build keeps
// assertions on, and for some scale ratios (e.g. after the JPEG decoder's DCT downscaling) stb asserts that
// the sum of a pixel's filter weights is below 1.1 (nothings/stb#1449), which aborts the whole job for one
// image. The check is redundant: stb divides every weight by that same sum on the next line.
#define STBIR_ASSERT(condition) ((void)0)
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop
