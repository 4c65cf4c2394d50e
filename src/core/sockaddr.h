// SockAddr: an IPv4 or IPv6 socket address in 28 bytes (sockaddr_storage is 128: too much for
// every idle connection). Unix-socket peers are stored with family AF_UNIX and no address.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace portico {

union SockAddr {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};

// "127.0.0.1", "::1" (no brackets), "unix:" for AF_UNIX.
std::string addr_text(const SockAddr& a);
// Appends the address text without allocating a temporary.
void append_addr_text(const SockAddr& a, std::string& out);
int addr_port(const SockAddr& a);

}  // namespace portico
