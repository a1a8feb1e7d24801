// A TCP port on 127.0.0.1 that is free at the time of asking, for tests
// that start a rendezvous store.
#ifndef FEWSHOT_TESTS_CORE_LOOPBACK_PORT_H_
#define FEWSHOT_TESTS_CORE_LOOPBACK_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace fewshot::testing {

// Binds port 0 on loopback, reads the port the kernel chose and releases
// it. Returns -1 when no socket can be bound.
inline int PickLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool bound =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  return bound ? ntohs(address.sin_port) : -1;
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_CORE_LOOPBACK_PORT_H_
