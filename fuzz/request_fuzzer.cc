// libFuzzer target for request handling before the model runs: parses the
// input as a serialized fewshot.v1 AdaptRequest, ClassifyRequest or
// PredictRequest (chosen by the first byte), validates it with
// server::RequestValidator and, when valid, converts its examples to model
// input tensors as the service does.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>

#include "absl/status/status.h"
#include "core/data/preprocessing.h"
#include "fewshot/v1/fewshot_service.pb.h"
#include "server/proto_conversion.h"
#include "server/request_limits.h"
#include "server/request_validation.h"

namespace {

// The server's default limits with the Omniglot Conv-4 input recipe.
const fewshot::server::RequestLimits kLimits;
const fewshot::core::Preprocessing kPreprocessing;

// Which message the rest of the input is; the first byte modulo 3.
enum RequestKind { kAdapt = 0, kClassify = 1, kPredict = 2 };

void FuzzAdapt(const fewshot::server::RequestValidator& validator,
               const uint8_t* data, size_t size) {
  fewshot::v1::AdaptRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  if (!validator.ValidateAdapt(request).ok()) return;
  fewshot::server::IndexSupportLabels(request.support());
  fewshot::server::SupportToInputs(request.support(), kPreprocessing,
                                   fewshot::server::ToImageLimits(kLimits))
      .IgnoreError();
}

void FuzzClassify(const fewshot::server::RequestValidator& validator,
                  const uint8_t* data, size_t size) {
  fewshot::v1::ClassifyRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  if (!validator.ValidateClassify(request).ok()) return;
  const fewshot::core::ImageLimits image_limits =
      fewshot::server::ToImageLimits(kLimits);
  fewshot::server::IndexSupportLabels(request.support());
  fewshot::server::SupportToInputs(request.support(), kPreprocessing,
                                   image_limits)
      .IgnoreError();
  fewshot::server::QueriesToInputs(request.queries(), kPreprocessing,
                                   image_limits)
      .IgnoreError();
}

void FuzzPredict(const fewshot::server::RequestValidator& validator,
                 const uint8_t* data, size_t size) {
  fewshot::v1::PredictRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  if (!validator.ValidatePredict(request).ok()) return;
  fewshot::server::QueriesToInputs(request.queries(), kPreprocessing,
                                   fewshot::server::ToImageLimits(kLimits))
      .IgnoreError();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Parsing invalid UTF-8 in string fields logs an error each time; the
  // fuzzer would spend its time writing them.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fewshot::server::RequestValidator* const validator =
      new fewshot::server::RequestValidator(kLimits, kPreprocessing,
                                            {"protonet"});
  if (size == 0) return 0;
  switch (data[0] % 3) {
    case kAdapt:
      FuzzAdapt(*validator, data + 1, size - 1);
      break;
    case kClassify:
      FuzzClassify(*validator, data + 1, size - 1);
      break;
    case kPredict:
      FuzzPredict(*validator, data + 1, size - 1);
      break;
  }
  return 0;
}
