// The per-request bounds the server enforces before doing any work; they
// mirror fewshot.v1.RequestLimits, which GetModelInfo reports to clients.
#ifndef FEWSHOT_SERVER_REQUEST_LIMITS_H_
#define FEWSHOT_SERVER_REQUEST_LIMITS_H_

#include <cstdint>

namespace fewshot::server {

struct RequestLimits {
  int max_support_examples = 500;
  int max_queries = 500;
  int max_classes = 100;
  int64_t max_image_bytes = 4 << 20;
  int64_t max_image_pixels = 4096 * 4096;
  int max_label_length = 128;
  // Bounds of per-request maml fine-tuning (at most core::kMaxMamlSteps
  // and core::kMaxMamlStepSize, which the method enforces in any case).
  int max_maml_steps = 100;
  float max_maml_step_size = 10.0f;
  // StreamPredict messages read ahead of their answers, per stream.
  int max_stream_messages_in_flight = 8;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_REQUEST_LIMITS_H_
