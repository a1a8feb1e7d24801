// Writes and reads the binary form described in state_codec.h.
#include "core/adapt/state_codec.h"

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/checksum.h"
#include "core/util/status_macros.h"

namespace fewshot::core {
namespace {

constexpr char kMagic[] = "FSAS";
constexpr size_t kMagicSize = 4;
// Magic, version, payload size before the payload; checksum after it.
constexpr size_t kHeaderSize = kMagicSize + 4 + 8;
constexpr size_t kTrailerSize = 8;

// Tensor element types in the format.
enum DType : uint8_t { kUndefined = 0, kFloat32 = 1, kInt64 = 2 };

// Appends fixed-width little-endian integers, strings and tensors.
class Writer {
 public:
  void U8(uint8_t value) { out_.push_back(static_cast<char>(value)); }
  void U32(uint32_t value) {
    for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(value >> (8 * i)));
  }
  void U64(uint64_t value) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(value >> (8 * i)));
  }
  void I64(int64_t value) { U64(static_cast<uint64_t>(value)); }
  void String(absl::string_view value) {
    U32(static_cast<uint32_t>(value.size()));
    out_.append(value.data(), value.size());
  }
  void Tensor(const torch::Tensor& tensor) {
    if (!tensor.defined()) {
      U8(kUndefined);
      return;
    }
    const torch::Tensor values = tensor.contiguous();
    U8(values.scalar_type() == torch::kInt64 ? kInt64 : kFloat32);
    U32(static_cast<uint32_t>(values.dim()));
    for (const int64_t size : values.sizes()) I64(size);
    const torch::Tensor typed = values.scalar_type() == torch::kInt64
                                    ? values
                                    : values.to(torch::kFloat32);
    out_.append(static_cast<const char*>(typed.data_ptr()),
                typed.numel() * typed.element_size());
  }

  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// Reads what Writer wrote; every read fails with DATA_LOSS past the end.
class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}

  absl::StatusOr<uint64_t> U64() {
    FEWSHOT_ASSIGN_OR_RETURN(absl::string_view raw, Take(8, "an integer"));
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) {
      value = (value << 8) | static_cast<uint8_t>(raw[i]);
    }
    return value;
  }
  absl::StatusOr<uint32_t> U32() {
    FEWSHOT_ASSIGN_OR_RETURN(absl::string_view raw, Take(4, "an integer"));
    uint32_t value = 0;
    for (int i = 3; i >= 0; --i) {
      value = (value << 8) | static_cast<uint8_t>(raw[i]);
    }
    return value;
  }
  absl::StatusOr<int64_t> I64() {
    FEWSHOT_ASSIGN_OR_RETURN(uint64_t value, U64());
    return static_cast<int64_t>(value);
  }
  absl::StatusOr<std::string> String() {
    FEWSHOT_ASSIGN_OR_RETURN(uint32_t size, U32());
    FEWSHOT_ASSIGN_OR_RETURN(absl::string_view raw, Take(size, "a string"));
    return std::string(raw);
  }
  absl::StatusOr<torch::Tensor> Tensor() {
    FEWSHOT_ASSIGN_OR_RETURN(absl::string_view type, Take(1, "a tensor type"));
    const uint8_t dtype = static_cast<uint8_t>(type[0]);
    if (dtype == kUndefined) return torch::Tensor();
    if (dtype != kFloat32 && dtype != kInt64) {
      return Damaged(absl::StrCat("unknown tensor type ", dtype));
    }
    FEWSHOT_ASSIGN_OR_RETURN(uint32_t dims, U32());
    if (dims > 8) return Damaged(absl::StrCat("tensor has ", dims, " dims"));
    std::vector<int64_t> sizes;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < dims; ++d) {
      FEWSHOT_ASSIGN_OR_RETURN(int64_t size, I64());
      if (size < 0 || (size > 0 && numel > in_.size() / size)) {
        return Damaged(absl::StrCat("tensor dimension ", size));
      }
      sizes.push_back(size);
      numel *= static_cast<uint64_t>(size);
    }
    const torch::ScalarType scalar =
        dtype == kInt64 ? torch::kInt64 : torch::kFloat32;
    const size_t element = dtype == kInt64 ? 8 : 4;
    if (numel > in_.size() / element) {
      return Damaged("tensor larger than the input");
    }
    FEWSHOT_ASSIGN_OR_RETURN(absl::string_view raw,
                             Take(numel * element, "tensor values"));
    torch::Tensor tensor = torch::empty(sizes, scalar);
    if (!raw.empty()) std::memcpy(tensor.data_ptr(), raw.data(), raw.size());
    return tensor;
  }

  bool at_end() const { return in_.empty(); }

  static absl::Status Damaged(absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("adaptation state is damaged: ", what));
  }

 private:
  absl::StatusOr<absl::string_view> Take(size_t size, absl::string_view what) {
    if (size > in_.size()) {
      return Damaged(absl::StrCat("truncated while reading ", what));
    }
    absl::string_view taken = in_.substr(0, size);
    in_.remove_prefix(size);
    return taken;
  }

  absl::string_view in_;
};

// DATA_LOSS unless the decoded fields agree with each other.
absl::Status CheckConsistent(const AdaptationState& state) {
  const int64_t rows =
      state.support_labels.defined() ? state.support_labels.numel() : 0;
  if (state.support_labels.defined() && state.support_labels.dim() != 1) {
    return Reader::Damaged("support labels are not a vector");
  }
  if (state.support_embeddings.defined() &&
      (state.support_embeddings.dim() != 2 ||
       state.support_embeddings.size(0) != rows)) {
    return Reader::Damaged("support embeddings do not match the labels");
  }
  if (static_cast<int64_t>(state.example_ids.size()) != rows) {
    return Reader::Damaged("example ids do not match the support rows");
  }
  if (rows > 0) {
    const int64_t low = state.support_labels.min().item<int64_t>();
    const int64_t high = state.support_labels.max().item<int64_t>();
    if (low < 0 || high >= state.num_classes()) {
      return Reader::Damaged("a class index is out of range");
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeAdaptationState(const AdaptationState& state) {
  // The payload.
  Writer payload;
  payload.String(state.method);
  payload.String(state.model_version);
  payload.String(state.encoder_fingerprint);
  payload.U32(static_cast<uint32_t>(state.labels.size()));
  for (const std::string& label : state.labels) payload.String(label);
  payload.Tensor(state.support_embeddings);
  payload.Tensor(state.support_labels);
  payload.U64(state.example_ids.size());
  for (const int64_t id : state.example_ids) payload.I64(id);
  payload.I64(state.next_example_id);
  payload.U32(static_cast<uint32_t>(state.derived.size()));
  for (const auto& [name, tensor] : state.derived) {
    payload.String(name);
    payload.Tensor(tensor);
  }
  payload.I64(state.created_unix_ms);
  payload.I64(state.updated_unix_ms);
  payload.I64(state.revision);

  // Framed by the header and the checksum.
  Writer framed;
  framed.bytes().append(kMagic, kMagicSize);
  framed.U32(kStateFormatVersion);
  framed.U64(payload.bytes().size());
  framed.bytes().append(payload.bytes());
  framed.U64(Checksum(payload.bytes()));
  return std::move(framed.bytes());
}

absl::StatusOr<AdaptationState> DecodeAdaptationState(absl::string_view bytes) {
  // The frame: magic, version, size, checksum.
  if (bytes.size() < kHeaderSize + kTrailerSize ||
      bytes.substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
    return Reader::Damaged("missing the FSAS header");
  }
  Reader header(bytes.substr(kMagicSize, kHeaderSize - kMagicSize));
  FEWSHOT_ASSIGN_OR_RETURN(uint32_t version, header.U32());
  if (version != kStateFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("adaptation state format version is ", version,
                     "; this build reads ", kStateFormatVersion, " only"));
  }
  FEWSHOT_ASSIGN_OR_RETURN(uint64_t payload_size, header.U64());
  if (payload_size != bytes.size() - kHeaderSize - kTrailerSize) {
    return Reader::Damaged(
        absl::StrCat("payload size is ", payload_size, "; the input holds ",
                     bytes.size() - kHeaderSize - kTrailerSize));
  }
  const absl::string_view payload = bytes.substr(kHeaderSize, payload_size);
  Reader trailer(bytes.substr(kHeaderSize + payload_size));
  FEWSHOT_ASSIGN_OR_RETURN(uint64_t checksum, trailer.U64());
  if (checksum != Checksum(payload)) {
    return Reader::Damaged("checksum mismatch");
  }

  // The fields, in the order EncodeAdaptationState wrote them.
  Reader in(payload);
  AdaptationState state;
  FEWSHOT_ASSIGN_OR_RETURN(state.method, in.String());
  FEWSHOT_ASSIGN_OR_RETURN(state.model_version, in.String());
  FEWSHOT_ASSIGN_OR_RETURN(state.encoder_fingerprint, in.String());
  FEWSHOT_ASSIGN_OR_RETURN(uint32_t label_count, in.U32());
  if (label_count > payload.size()) return Reader::Damaged("label count");
  for (uint32_t i = 0; i < label_count; ++i) {
    FEWSHOT_ASSIGN_OR_RETURN(std::string label, in.String());
    state.labels.push_back(std::move(label));
  }
  FEWSHOT_ASSIGN_OR_RETURN(state.support_embeddings, in.Tensor());
  FEWSHOT_ASSIGN_OR_RETURN(state.support_labels, in.Tensor());
  FEWSHOT_ASSIGN_OR_RETURN(uint64_t id_count, in.U64());
  if (id_count > payload.size() / 8) return Reader::Damaged("id count");
  for (uint64_t i = 0; i < id_count; ++i) {
    FEWSHOT_ASSIGN_OR_RETURN(int64_t id, in.I64());
    state.example_ids.push_back(id);
  }
  FEWSHOT_ASSIGN_OR_RETURN(state.next_example_id, in.I64());
  FEWSHOT_ASSIGN_OR_RETURN(uint32_t derived_count, in.U32());
  if (derived_count > payload.size()) return Reader::Damaged("derived count");
  for (uint32_t i = 0; i < derived_count; ++i) {
    FEWSHOT_ASSIGN_OR_RETURN(std::string name, in.String());
    FEWSHOT_ASSIGN_OR_RETURN(state.derived[name], in.Tensor());
  }
  FEWSHOT_ASSIGN_OR_RETURN(state.created_unix_ms, in.I64());
  FEWSHOT_ASSIGN_OR_RETURN(state.updated_unix_ms, in.I64());
  FEWSHOT_ASSIGN_OR_RETURN(state.revision, in.I64());
  if (!in.at_end()) return Reader::Damaged("trailing bytes in the payload");
  FEWSHOT_RETURN_IF_ERROR(CheckConsistent(state));
  return state;
}

}  // namespace fewshot::core
