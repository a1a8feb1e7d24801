// Gradient averaging over c10d: a TCPStore rendezvous and a Gloo process
// group, with collectives on flattened per-type buffers.
#include "core/train/gradient_averager.h"

#include <chrono>
#include <map>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

std::chrono::milliseconds ToMilliseconds(absl::Duration duration) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(duration));
}

bool IsLoopback(const std::string& address) {
  return absl::StartsWith(address, "127.") || address == "::1" ||
         address == "localhost";
}

// Turns a failed c10d call (an INTERNAL status from CallTorch) into
// DEADLINE_EXCEEDED when it timed out and UNAVAILABLE otherwise, with
// `context` and `hint` around the library's message.
absl::Status NetworkError(const absl::Status& failure,
                          const std::string& context, const std::string& hint) {
  const std::string message = absl::StrCat(
      context, ": ", absl::StripSuffix(failure.message(), "."), "; ", hint);
  const std::string lower = absl::AsciiStrToLower(failure.message());
  const bool timed_out = absl::StrContains(lower, "timeout") ||
                         absl::StrContains(lower, "timed out");
  return timed_out ? absl::DeadlineExceededError(message)
                   : absl::UnavailableError(message);
}

// The tensors grouped by element type, in a fixed type order so that every
// worker builds the same buffers.
std::map<torch::ScalarType, std::vector<torch::Tensor>> ByType(
    const std::vector<torch::Tensor>& tensors) {
  std::map<torch::ScalarType, std::vector<torch::Tensor>> groups;
  for (const torch::Tensor& tensor : tensors) {
    groups[tensor.scalar_type()].push_back(tensor);
  }
  return groups;
}

// One contiguous 1-D copy of `tensors` (all of one type).
torch::Tensor Flatten(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> rows;
  rows.reserve(tensors.size());
  for (const torch::Tensor& tensor : tensors)
    rows.push_back(tensor.reshape(-1));
  return torch::cat(rows);
}

// Copies the consecutive pieces of `flat` back into `tensors`.
void Unflatten(const torch::Tensor& flat,
               const std::vector<torch::Tensor>& tensors) {
  int64_t offset = 0;
  for (const torch::Tensor& tensor : tensors) {
    const int64_t size = tensor.numel();
    torch::Tensor target = tensor;
    target.copy_(flat.slice(0, offset, offset + size).view(tensor.sizes()));
    offset += size;
  }
}

// "address:port" of the rendezvous.
std::string Endpoint(const DistributedOptions& options) {
  return absl::StrCat(options.address, ":", options.port);
}

// What to change when the workers did not meet.
std::string RendezvousHint(const DistributedOptions& options) {
  return absl::StrCat(
      "start all ", options.world_size,
      " ranks with the same address, port and world size within ",
      absl::FormatDuration(options.rendezvous_timeout));
}

// INVALID_ARGUMENT naming the option to change, else OK.
absl::Status ValidateOptions(const DistributedOptions& options) {
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("world size must be >= 1, got ", options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rank must be in [0, ", options.world_size - 1,
        "] for a world size of ", options.world_size, ", got ", options.rank));
  }
  if (options.port < 1 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous port must be in [1, 65535], got ", options.port));
  }
  if (options.address.empty()) {
    return absl::InvalidArgumentError(
        "rendezvous address is empty; give rank 0's host or IP address");
  }
  if (options.rendezvous_timeout < absl::Milliseconds(1) ||
      options.step_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        "rendezvous and step timeouts must be at least 1 ms");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GradientAverager>> GradientAverager::Create(
    const DistributedOptions& options) {
  FEWSHOT_RETURN_IF_ERROR(ValidateOptions(options));

  // Rank 0 listens; every rank (rank 0 too) connects as a client.
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(options.port);
  store_options.isServer = options.rank == 0;
  store_options.numWorkers = options.world_size;
  store_options.waitWorkers = false;
  store_options.timeout = ToMilliseconds(options.rendezvous_timeout);
  absl::StatusOr<c10::intrusive_ptr<c10d::Store>> store =
      CallTorch("rendezvous store", [&]() -> c10::intrusive_ptr<c10d::Store> {
        return c10::make_intrusive<c10d::TCPStore>(options.address,
                                                   store_options);
      });
  if (!store.ok()) {
    return NetworkError(store.status(),
                        absl::StrCat("rank ", options.rank,
                                     " cannot reach the rendezvous store at ",
                                     Endpoint(options)),
                        RendezvousHint(options));
  }
  return JoinGroup(options, *std::move(store));
}

absl::StatusOr<std::unique_ptr<GradientAverager>>
GradientAverager::CreateWithStore(const DistributedOptions& options,
                                  c10::intrusive_ptr<c10d::Store> store) {
  FEWSHOT_RETURN_IF_ERROR(ValidateOptions(options));
  if (!store) {
    return absl::InvalidArgumentError("the rendezvous store is null");
  }
  return JoinGroup(options, std::move(store));
}

absl::StatusOr<std::unique_ptr<GradientAverager>> GradientAverager::JoinGroup(
    const DistributedOptions& options, c10::intrusive_ptr<c10d::Store> store) {
  const std::string bind_address =
      !options.bind_address.empty() ? options.bind_address
      : IsLoopback(options.address) ? options.address
                                    : std::string();
  absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> group = CallTorch(
      "process group", [&]() -> c10::intrusive_ptr<c10d::ProcessGroup> {
        store->setTimeout(ToMilliseconds(options.rendezvous_timeout));
        auto group_options = c10d::ProcessGroupGloo::Options::create(
            ToMilliseconds(options.rendezvous_timeout));
        group_options->devices.push_back(
            bind_address.empty()
                ? c10d::ProcessGroupGloo::createDefaultDevice()
                : c10d::ProcessGroupGloo::createDeviceForHostname(
                      bind_address));
        group_options->threads = 1;
        return c10::make_intrusive<c10d::ProcessGroupGloo>(
            store, options.rank, options.world_size, group_options);
      });
  if (!group.ok()) {
    return NetworkError(
        group.status(),
        absl::StrCat("rank ", options.rank, " of ", options.world_size,
                     " did not meet the other workers through ",
                     Endpoint(options)),
        RendezvousHint(options));
  }
  FEWSHOT_LOG(INFO) << "joined data-parallel training as rank " << options.rank
                    << " of " << options.world_size << " through "
                    << Endpoint(options);
  return std::unique_ptr<GradientAverager>(
      new GradientAverager(options, std::move(store), *std::move(group)));
}

GradientAverager::GradientAverager(DistributedOptions options,
                                   c10::intrusive_ptr<c10d::Store> store,
                                   c10::intrusive_ptr<c10d::ProcessGroup> group)
    : options_(std::move(options)),
      store_(std::move(store)),
      group_(std::move(group)) {}

GradientAverager::~GradientAverager() = default;

absl::Status GradientAverager::AllReduceSum(
    std::vector<torch::Tensor>& tensors) {
  c10d::AllreduceOptions reduce;
  reduce.reduceOp = c10d::ReduceOp::SUM;
  reduce.timeout = ToMilliseconds(options_.step_timeout);
  const absl::Status done = CallTorch("all-reduce", [&] {
                              return group_->allreduce(tensors, reduce)->wait();
                            }).status();
  if (done.ok()) return done;
  return NetworkError(
      done, absl::StrCat("rank ", rank(), ": averaging gradients failed"),
      "a worker stopped or stalled; see the other workers' output");
}

absl::Status GradientAverager::AverageGradients(
    const std::vector<torch::Tensor>& parameters,
    const std::vector<torch::Tensor>& also_average) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> averaged;
  averaged.reserve(parameters.size() + also_average.size());
  for (const torch::Tensor& parameter : parameters) {
    torch::Tensor mutable_parameter = parameter;
    if (!mutable_parameter.grad().defined()) {
      mutable_parameter.mutable_grad() = torch::zeros_like(parameter);
    }
    averaged.push_back(mutable_parameter.grad());
  }
  for (const torch::Tensor& tensor : also_average) {
    if (tensor.is_floating_point()) averaged.push_back(tensor);
  }
  if (world_size() == 1) return absl::OkStatus();

  for (const auto& [type, typed] : ByType(averaged)) {
    const std::vector<torch::Tensor>& tensors = typed;
    FEWSHOT_ASSIGN_OR_RETURN(
        std::vector<torch::Tensor> flat, CallTorch("flattening gradients", [&] {
          return std::vector<torch::Tensor>{Flatten(tensors)};
        }));
    FEWSHOT_RETURN_IF_ERROR(AllReduceSum(flat));
    FEWSHOT_RETURN_IF_ERROR(CallTorch("unflattening gradients", [&] {
                              flat[0].div_(world_size());
                              Unflatten(flat[0], tensors);
                              return 0;
                            }).status());
  }
  return absl::OkStatus();
}

absl::Status GradientAverager::BroadcastParameters(
    const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  if (world_size() == 1) return absl::OkStatus();
  c10d::BroadcastOptions broadcast;
  broadcast.rootRank = 0;
  broadcast.timeout = ToMilliseconds(options_.step_timeout);
  for (const auto& [type, typed] : ByType(tensors)) {
    const std::vector<torch::Tensor>& group = typed;
    FEWSHOT_ASSIGN_OR_RETURN(
        std::vector<torch::Tensor> flat,
        CallTorch("flattening parameters",
                  [&] { return std::vector<torch::Tensor>{Flatten(group)}; }));
    const absl::Status sent =
        CallTorch("broadcast", [&] {
          return group_->broadcast(flat, broadcast)->wait();
        }).status();
    if (!sent.ok()) {
      return NetworkError(
          sent, absl::StrCat("rank ", rank(), ": broadcast from rank 0 failed"),
          "a worker stopped or stalled; see the other workers' output");
    }
    FEWSHOT_RETURN_IF_ERROR(CallTorch("unflattening parameters", [&] {
                              Unflatten(flat[0], group);
                              return 0;
                            }).status());
  }
  return absl::OkStatus();
}

}  // namespace fewshot::core
