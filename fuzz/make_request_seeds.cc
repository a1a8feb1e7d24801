// Writes the seed corpus of request_fuzzer: a few small, valid serialized
// AdaptRequest, ClassifyRequest and PredictRequest messages, each prefixed
// with the byte that makes request_fuzzer parse it as that message.
//
// Usage: make_request_seeds <a small PNG> <output folder>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "fewshot/v1/fewshot_service.pb.h"
#include "fewshot/v1/types.pb.h"

namespace {

// The first byte request_fuzzer reads; keep in step with its RequestKind.
constexpr char kAdapt = 0;
constexpr char kClassify = 1;
constexpr char kPredict = 2;

// Fills `example` with a [1, 28, 28] tensor of constant `value`.
void SetTensor(float value, fewshot::v1::Example* example) {
  fewshot::v1::FloatTensor* tensor = example->mutable_tensor();
  tensor->add_shape(1);
  tensor->add_shape(28);
  tensor->add_shape(28);
  for (int i = 0; i < 28 * 28; ++i) tensor->add_values(value);
}

// Writes `kind` followed by `message` to `path`; false on failure.
bool WriteSeed(const std::string& path, char kind,
               const google::protobuf::Message& message) {
  std::ofstream out(path, std::ios::binary);
  out.put(kind);
  out << message.SerializeAsString();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " <png> <output folder>\n";
    return EXIT_FAILURE;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());
  if (png.empty()) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return EXIT_FAILURE;
  }
  const std::string folder = argv[2];

  // Two classes of one image each.
  fewshot::v1::AdaptRequest adapt_images;
  for (const char* label : {"a", "b"}) {
    fewshot::v1::LabeledExample* example = adapt_images.add_support();
    example->set_label(label);
    example->mutable_example()->set_image(png);
  }

  // Two classes, one given as a tensor, and an explicit method.
  fewshot::v1::AdaptRequest adapt_mixed;
  adapt_mixed.set_method("protonet");
  fewshot::v1::LabeledExample* image = adapt_mixed.add_support();
  image->set_label("image");
  image->mutable_example()->set_image(png);
  fewshot::v1::LabeledExample* tensor = adapt_mixed.add_support();
  tensor->set_label("tensor");
  SetTensor(0.5f, tensor->mutable_example());

  // The image support set with one image query.
  fewshot::v1::ClassifyRequest classify;
  *classify.mutable_support() = adapt_images.support();
  classify.add_queries()->set_image(png);

  // A query against a stored adaptation.
  fewshot::v1::PredictRequest predict;
  predict.set_adaptation_id("0123456789abcdef");
  predict.add_queries()->set_image(png);

  const bool ok =
      WriteSeed(folder + "/adapt_images", kAdapt, adapt_images) &&
      WriteSeed(folder + "/adapt_mixed", kAdapt, adapt_mixed) &&
      WriteSeed(folder + "/classify", kClassify, classify) &&
      WriteSeed(folder + "/predict", kPredict, predict);
  if (!ok) {
    std::cerr << "cannot write seeds to " << folder << "\n";
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
