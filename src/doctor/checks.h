#pragma once
// The steps of `nuri doctor`, each split into the part that touches the system (sockets,
// netlink) and the part that decides and words the finding, so the decisions are unit-tested
// without a network.
#include <string>
#include <string_view>
#include <vector>

#include "doctor/doctor.h"
#include "net/socket.h"

namespace nuri::doctor {

// -- this machine (local.cpp) -----------------------------------------------------------------

/// Groups TCP LISTEN rows by the address they are bound to (SO_REUSEPORT sockets share one).
std::vector<ListenGroup> group_listeners(const std::vector<conns::Row>& rows);

/// Whether `address` is one of `interfaces` (this machine's addresses, "ADDR (IFACE)" as
/// net::interface_addresses lists them) or a loopback address; the interface's name when it
/// is one, "lo" for loopback, empty otherwise.
std::string local_interface(const net::SocketAddress& address, const std::vector<std::string>& interfaces);

/// Whether a socket listening as `group` accepts a connection to `address` (same port).
bool covers(const ListenGroup& group, const net::SocketAddress& address);

/// One finding per group: who listens where, and how many sockets share it. `ok` when it
/// covers one of `targets`, `info` otherwise. Warnings for a full accept queue, and for
/// different programs sharing the port.
void describe_listeners(const std::vector<ListenGroup>& groups, const std::vector<net::SocketAddress>& targets,
                        std::vector<Finding>& out);

/// When no group covers `target` (an address of this machine, with PORT): not_listening,
/// loopback_only, wrong_family or other_address, with the fix. Nothing when one covers it.
void coverage_finding(const std::vector<ListenGroup>& groups, const net::SocketAddress& target,
                      std::vector<Finding>& out);

// -- the client's side (probe.cpp) ------------------------------------------------------------

/// The verdict for a finished connect(): `error` is its errno (0: connected); the ICMP fields
/// of `result` say what the error queue held. Sets result.verdict.
void classify_connect(int error, ConnectResult& result);

/// Connects to `address` (non-blocking, IP_RECVERR so that an ICMP error is read with its
/// sender), waiting at most `timeout_ms`. When connected, `fd` holds the socket.
ConnectResult probe_connect(const net::SocketAddress& address, int timeout_ms, net::FileDescriptor& fd);

/// How the read of an answer ended.
enum class ReadEnd : std::uint8_t { enough, closed, reset, timeout };

/// The verdict for the bytes a server sent back to `HEAD / HTTP/1.1` (at most 16 KiB), and
/// how the reading ended. Never trusts the bytes: any content is classified.
HttpResult classify_reply(std::string_view bytes, ReadEnd end);

/// TLS records start with content type 21 (alert) or 22 (handshake) and version 3.x.
bool looks_like_tls(std::string_view bytes);

/// "HEAD / HTTP/1.1" with Host (`host`, bracketed when IPv6, ":PORT" unless 80).
std::string head_request(const Target& target);

/// Sends head_request() on the connected `fd` and reads the answer for at most `timeout_ms`.
HttpResult probe_http(int fd, const Target& target, int timeout_ms);

/// A TLS ClientHello (TLS 1.2 with common suites; server_name when `host` is a name): any
/// TLS server answers it with a ServerHello or an alert.
std::string client_hello(std::string_view host);

/// Opens a second connection to `address`, sends client_hello() and says whether a TLS
/// record came back within `timeout_ms`.
bool probe_tls(const net::SocketAddress& address, std::string_view host, int timeout_ms);

/// Bytes as a reader can see them: the first line (at most `max` bytes), printable ASCII as
/// is, anything else as \xNN.
std::string printable_excerpt(std::string_view bytes, std::size_t max = 60);

// -- findings for the probe (doctor.cpp) ------------------------------------------------------

/// The finding for one connection attempt. `listening_here`: this machine has a listener that
/// covers the address (so a drop or a reject is this machine's own firewall).
Finding connect_finding(const ConnectResult& result, const Target& target, int timeout_ms, bool listening_here);

/// The finding for the HTTP step.
Finding http_finding(const HttpResult& result, const Target& target, int timeout_ms);

}  // namespace nuri::doctor
