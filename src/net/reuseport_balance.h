#pragma once
// Spreads the new connections of an SO_REUSEPORT group over its sockets in turn, instead of by
// the hash of their addresses: with a few dozen long keep-alive connections the hash leaves one
// worker with a quarter more of them than the other, and each of its clients gets that much less.
#include <string>
#include <string_view>

#include "net/socket.h"

namespace nuri::net {

/// Attaches a BPF program to the group of `listen_fd` (`sockets` sockets) that hands connection
/// n to socket n mod `sockets`. Needs CAP_BPF (or CAP_SYS_ADMIN) unless the kernel lets anyone
/// load socket filters; false with `why` when the kernel refused, and the hash stays.
bool balance_round_robin(int listen_fd, unsigned sockets, std::string& why);

/// The same for a listener of `serve` or `forward` (`label`: its address). A refusal for want of
/// CAP_BPF is the rule for a user and not logged; root, to whom it is news (an old kernel, a
/// container without the capability), is told once in the error log. True when dealt in turn.
bool balance_listener(int listen_fd, unsigned sockets, std::string_view label);

}  // namespace nuri::net
