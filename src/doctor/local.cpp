// nuri doctor, this machine's side: who listens on the port, on which address, and whether
// that address is the one the clients use.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/terminal.h"
#include "doctor/checks.h"

namespace nuri::doctor {
namespace {

// "nuri (pid 812)", "python3 (pids 40, 41)", "nuri (pid 1) and python3 (pid 2)". Names escaped:
// any local user picks the name of their process, and it ends up on root's terminal.
std::string who(const std::vector<conns::Owner>& owners) {
  if (owners.empty()) return "a process this user may not inspect (run as root to see it)";
  std::map<std::string, std::vector<int>> by_program;
  for (const conns::Owner& o : owners) by_program[o.program].push_back(o.pid);
  std::string out;
  std::size_t n = 0;
  for (const auto& [program, pids] : by_program) {
    if (n++ > 0) out += n == by_program.size() ? " and " : ", ";
    out += fmt::format("{} (pid{} {})", term::printable(program), pids.size() > 1 ? "s" : "", fmt::join(pids, ", "));
  }
  return out;
}

// who() with its verb: "nuri (pid 5) listens", "python3 (pids 1, 2) listen".
std::string who_listens(const std::vector<conns::Owner>& owners) {
  return who(owners) + (owners.size() > 1 ? " listen" : " listens");
}

std::string port_fix(const net::SocketAddress& target) {
  std::uint16_t port = target.port();
  if (target.family() == AF_INET6) {
    return fmt::format("listen on every interface: bind [::]:{0}, e.g. `nuri serve --listen '[::]:{0}'`", port);
  }
  return fmt::format("listen on every interface: bind 0.0.0.0:{0}, e.g. `nuri serve --listen 0.0.0.0:{0}`", port);
}

// Where a listener can be reached from, in a few words.
std::string scope(const ListenGroup& g) {
  if (g.address.is_unspecified()) {
    if (g.address.family() == AF_INET) return "every IPv4 interface";
    return g.v6only ? "every IPv6 interface (IPv6 only: IPV6_V6ONLY)" : "every interface, IPv4 and IPv6";
  }
  if (g.address.is_loopback()) return "loopback: this machine only";
  return fmt::format("the address {} only", g.address.host());
}

bool same_host(const net::SocketAddress& a, const net::SocketAddress& b) {
  return a.family() == b.family() && a.host() == b.host();
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address, which is how the
// kernel matches it against IPv4 traffic.
std::optional<std::string> mapped_ipv4(const net::SocketAddress& a) {
  if (a.family() != AF_INET6) return std::nullopt;
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.get());
  if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return std::nullopt;
  const unsigned char* b = sin6->sin6_addr.s6_addr;
  return fmt::format("{}.{}.{}.{}", b[12], b[13], b[14], b[15]);
}

}  // namespace

std::vector<ListenGroup> group_listeners(const std::vector<conns::Row>& rows) {
  std::vector<ListenGroup> groups;
  for (const conns::Row& row : rows) {
    const conns::Socket& s = row.socket;
    if (s.protocol != conns::Protocol::tcp || s.state != conns::TcpState::listen) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const ListenGroup& g) {
      return same_host(g.address, s.local) && g.address.port() == s.local.port() && g.v6only == s.v6only;
    });
    if (it == groups.end()) {
      groups.push_back({});
      it = groups.end() - 1;
      it->address = s.local;
      it->v6only = s.v6only;
    }
    ++it->sockets;
    it->queued += s.recv_q;
    it->backlog += s.send_q;
    // For a listener the kernel reports the accept queue's length and its limit; it refuses
    // (drops) new handshakes once the length passes the limit.
    if (s.recv_q > 0 && s.recv_q >= s.send_q) it->queue_full = true;
    for (const conns::Owner& o : row.owners) {
      bool known = std::any_of(it->owners.begin(), it->owners.end(), [&](const conns::Owner& k) { return k.pid == o.pid; });
      if (!known) it->owners.push_back(o);
    }
  }
  for (ListenGroup& g : groups) {
    std::sort(g.owners.begin(), g.owners.end(), [](const conns::Owner& a, const conns::Owner& b) { return a.pid < b.pid; });
  }
  // IPv4 first, then by address, as a reader scans them.
  std::sort(groups.begin(), groups.end(), [](const ListenGroup& a, const ListenGroup& b) {
    if (a.address.family() != b.address.family()) return a.address.family() == AF_INET;
    return a.address.to_string() < b.address.to_string();
  });
  return groups;
}

std::string local_interface(const net::SocketAddress& address, const std::vector<std::string>& interfaces) {
  // 127.0.0.0/8 is all this machine's (lo holds the whole /8), though lo lists 127.0.0.1 only.
  if (address.is_loopback()) return "lo";
  const std::string host = address.host();
  for (const std::string& entry : interfaces) {
    // "192.168.1.5 (eth0)"
    std::size_t space = entry.find(" (");
    if (space == std::string::npos || entry.substr(0, space) != host) continue;
    std::string name = entry.substr(space + 2);
    if (!name.empty() && name.back() == ')') name.pop_back();
    return name.empty() ? "?" : name;
  }
  return "";
}

bool covers(const ListenGroup& group, const net::SocketAddress& address) {
  const net::SocketAddress& l = group.address;
  if (l.port() != address.port()) return false;
  if (l.family() == address.family()) return l.is_unspecified() || same_host(l, address);
  // An IPv4 client reaches an IPv6 socket only as a mapped address, unless IPV6_V6ONLY.
  if (l.family() == AF_INET6 && address.family() == AF_INET && !group.v6only) {
    if (l.is_unspecified()) return true;
    auto v4 = mapped_ipv4(l);
    return v4 && *v4 == address.host();
  }
  return false;
}

void describe_listeners(const std::vector<ListenGroup>& groups, const std::vector<net::SocketAddress>& targets,
                        std::vector<Finding>& out) {
  for (const ListenGroup& g : groups) {
    const bool useful = std::any_of(targets.begin(), targets.end(), [&](const auto& t) { return covers(g, t); });
    std::string text = fmt::format("{} on {} ({})", who_listens(g.owners), g.address.to_string(), scope(g));
    if (g.sockets > 1) {
      text += fmt::format(", {} sockets sharing it with SO_REUSEPORT (the kernel spreads new connections over them)",
                          g.sockets);
    }
    out.push_back({"listening", useful ? Severity::ok : Severity::info, "local", text + ".", ""});

    std::set<std::string> programs;
    for (const conns::Owner& o : g.owners) programs.insert(o.program);
    if (programs.size() > 1 && g.sockets > 1) {
      out.push_back({"shared_port", Severity::warning, "local",
                     fmt::format("Different programs share {} through SO_REUSEPORT ({}): each new connection goes "
                                 "to one of them, chosen by the kernel.",
                                 g.address.to_string(), who(g.owners)),
                     "Stop the one that should not be there (an old instance, a test server): `kill PID`."});
    }
    if (g.queue_full) {
      out.push_back({"accept_queue_full", Severity::warning, "local",
                     fmt::format("The accept queue of {} is full ({} connections wait, backlog {}): {} does not "
                                 "accept them, so new clients wait and then time out.",
                                 g.address.to_string(), g.queued, g.backlog, who(g.owners)),
                     "The program is stuck or overloaded: check its log, restart it, or give it more workers or a "
                     "larger backlog."});
    }
  }
}

void coverage_finding(const std::vector<ListenGroup>& groups, const net::SocketAddress& target,
                      std::vector<Finding>& out) {
  const std::uint16_t port = target.port();
  if (groups.empty()) {
    out.push_back({"not_listening", Severity::problem, "local",
                   fmt::format("Nothing listens on TCP port {} on this machine (in this network namespace), so "
                               "connections to {} are refused.",
                               port, target.to_string()),
                   fmt::format("Start the server and {}; if it is running, its log says why it could not bind "
                               "the port.",
                               port_fix(target))});
    return;
  }
  if (std::any_of(groups.begin(), groups.end(), [&](const ListenGroup& g) { return covers(g, target); })) return;

  std::vector<std::string> where;
  std::vector<conns::Owner> owners;
  bool all_loopback = true;
  bool family = false;  // a wildcard of the other family: right port, wrong IP version
  for (const ListenGroup& g : groups) {
    where.push_back(g.address.to_string());
    for (const conns::Owner& o : g.owners) {
      if (std::none_of(owners.begin(), owners.end(), [&](const conns::Owner& k) { return k.pid == o.pid; })) {
        owners.push_back(o);
      }
    }
    if (!g.address.is_loopback()) all_loopback = false;
    if (g.address.is_unspecified() && (g.address.family() != target.family() || g.v6only)) family = true;
  }
  const std::string listed = fmt::format("{}", fmt::join(where, " and "));
  if (family) {
    const bool v4 = target.family() == AF_INET;
    out.push_back({"wrong_family", Severity::problem, "local",
                   fmt::format("{} on {} for {} only, and {} is an {} address, so its connections are "
                               "refused.",
                               who_listens(owners), listed, v4 ? "IPv6" : "IPv4", target.host(), v4 ? "IPv4" : "IPv6"),
                   v4 ? fmt::format("Also listen on IPv4: bind 0.0.0.0:{0} too, e.g. `nuri serve --listen 0.0.0.0:{0} "
                                    "--listen '[::]:{0}'`.",
                                    port)
                      : fmt::format("Also listen on IPv6: bind [::]:{0} too, e.g. `nuri serve --listen 0.0.0.0:{0} "
                                    "--listen '[::]:{0}'`.",
                                    port)});
  } else if (all_loopback && !target.is_loopback()) {
    out.push_back({"loopback_only", Severity::problem, "local",
                   fmt::format("{} on {} only: loopback, which only this machine can reach, so connections "
                               "to {} are refused.",
                               who_listens(owners), listed, target.to_string()),
                   fmt::format("To be reachable from other machines, {}.", port_fix(target))});
  } else {
    out.push_back({"other_address", Severity::problem, "local",
                   fmt::format("{} on {} only, not on {}, so connections to it are refused.", who_listens(owners),
                               listed, target.host()),
                   fmt::format("Bind the address the clients use ({}) or {}.", target.to_string(), port_fix(target))});
  }
}

}  // namespace nuri::doctor
