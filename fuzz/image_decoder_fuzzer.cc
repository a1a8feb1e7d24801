// libFuzzer target for image decoding: feeds arbitrary bytes to
// core::DecodeImage with the server's default limits and checks what it
// promises: a failure is INVALID_ARGUMENT, and a decoded image has a size
// within the limits and one pixel in [0, 1] per position. Links only the
// decoder (no LibTorch); the request fuzzer covers preprocessing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/data/gray_image.h"
#include "core/data/image_decoder.h"

namespace {

// Reports a broken promise of DecodeImage and stops, which libFuzzer
// records as a crash with its input.
void Fail(const char* what) {
  std::fprintf(stderr, "DecodeImage broke its contract: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fewshot::core::ImageLimits kLimits;

  absl::StatusOr<fewshot::core::GrayImage> image = fewshot::core::DecodeImage(
      absl::string_view(reinterpret_cast<const char*>(data), size), kLimits);
  if (!image.ok()) {
    if (image.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("an error other than INVALID_ARGUMENT");
    }
    return 0;
  }
  if (image->width < 1 || image->height < 1) Fail("an empty image");
  const int64_t pixels = int64_t{image->width} * image->height;
  if (pixels > kLimits.max_pixels) Fail("more pixels than the limit");
  if (static_cast<int64_t>(image->pixels.size()) != pixels) {
    Fail("a pixel count other than width * height");
  }
  for (const float pixel : image->pixels) {
    // Written so that NaN fails too.
    if (!(pixel >= 0.0f && pixel <= 1.0f)) Fail("a pixel outside [0, 1]");
  }
  return 0;
}
