// A TCP port on 127.0.0.1 that is free at the time of asking, for tests
// that start a server, a Redis or a rendezvous store of their own.
#ifndef FEWSHOT_TESTS_LOOPBACK_PORT_H_
#define FEWSHOT_TESTS_LOOPBACK_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fewshot::testing {

// Binds port 0 on loopback, reads the port the kernel chose and releases
// it. Another process may take the port before the caller binds it.
inline absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool bound =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!bound) return absl::InternalError("cannot bind a loopback port");
  return ntohs(address.sin_port);
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_LOOPBACK_PORT_H_
