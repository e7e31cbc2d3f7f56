#include "conns/conns.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/terminal.h"

namespace nuri::conns {
namespace {

bool is_digits(const char* s) {
  if (*s == '\0') return false;
  for (; *s != '\0'; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

std::string read_comm(const std::string& dir) {
  std::FILE* f = std::fopen((dir + "/comm").c_str(), "re");
  if (f == nullptr) return "?";
  char buf[64] = {};
  std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  std::string name(buf, n);
  while (!name.empty() && (name.back() == '\n' || name.back() == '\0')) name.pop_back();
  return name;
}

// "0.0.0.0:*" for a socket without a peer, like netstat.
std::string remote_text(const Socket& s) {
  if (s.remote.port() == 0 && s.remote.is_unspecified()) {
    return s.remote.family() == AF_INET6 ? "[::]:*" : "0.0.0.0:*";
  }
  return s.remote.to_string();
}

bool is_listening(const Socket& s) {
  return s.state == TcpState::listen || (s.protocol == Protocol::udp && s.state == TcpState::close);
}

// "812/nuri (+3)". The name is escaped: any local user picks the name of their process, and it
// ends up on root's terminal.
std::string owner_text(const std::vector<Owner>& owners) {
  if (owners.empty()) return "-";
  std::string text = fmt::format("{}/{}", owners[0].pid, term::printable(owners[0].program));
  if (owners.size() > 1) text += fmt::format(" (+{})", owners.size() - 1);
  return text;
}

std::string note_of(const Row& row) {
  const Socket& s = row.socket;
  if (s.state == TcpState::time_wait) {
    return fmt::format("{} s left", (s.expires_ms + 999) / 1000);
  }
  if (is_listening(s)) return reach_note(s.local);
  return "";
}

std::string normalize(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-' || c == '_') continue;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return out;
}

}  // namespace

std::map<std::uint32_t, std::vector<Owner>> socket_owners() {
  std::map<std::uint32_t, std::vector<Owner>> owners;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return owners;
  while (dirent* entry = ::readdir(proc)) {
    if (!is_digits(entry->d_name)) continue;
    const std::string dir = std::string("/proc/") + entry->d_name;
    DIR* fds = ::opendir((dir + "/fd").c_str());
    if (fds == nullptr) continue;  // gone, or not ours to read
    const int pid = std::atoi(entry->d_name);
    std::string program;
    while (dirent* fd = ::readdir(fds)) {
      if (!is_digits(fd->d_name)) continue;
      char target[64];
      ssize_t n = ::readlinkat(::dirfd(fds), fd->d_name, target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      // "socket:[12345]"
      if (std::strncmp(target, "socket:[", 8) != 0) continue;
      std::uint32_t inode = static_cast<std::uint32_t>(std::strtoul(target + 8, nullptr, 10));
      if (program.empty()) program = read_comm(dir);
      auto& list = owners[inode];
      if (std::none_of(list.begin(), list.end(), [&](const Owner& o) { return o.pid == pid; })) {
        list.push_back({pid, program});
      }
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return owners;
}

std::string_view state_name(Protocol protocol, TcpState state) {
  if (protocol == Protocol::udp) return state == TcpState::established ? "ESTABLISHED" : "UNCONN";
  switch (state) {
    case TcpState::established: return "ESTABLISHED";
    case TcpState::syn_sent: return "SYN_SENT";
    case TcpState::syn_recv: return "SYN_RECV";
    case TcpState::fin_wait1: return "FIN_WAIT1";
    case TcpState::fin_wait2: return "FIN_WAIT2";
    case TcpState::time_wait: return "TIME_WAIT";
    case TcpState::close: return "CLOSE";
    case TcpState::close_wait: return "CLOSE_WAIT";
    case TcpState::last_ack: return "LAST_ACK";
    case TcpState::listen: return "LISTEN";
    case TcpState::closing: return "CLOSING";
    case TcpState::new_syn_recv: return "SYN_RECV";
  }
  return "UNKNOWN";
}

std::optional<TcpState> parse_state(std::string_view text) {
  static const std::pair<const char*, TcpState> names[] = {
      {"established", TcpState::established}, {"estab", TcpState::established},
      {"synsent", TcpState::syn_sent},        {"synrecv", TcpState::syn_recv},
      {"synreceived", TcpState::syn_recv},    {"finwait1", TcpState::fin_wait1},
      {"finwait2", TcpState::fin_wait2},      {"timewait", TcpState::time_wait},
      {"close", TcpState::close},             {"closed", TcpState::close},
      {"unconn", TcpState::close},            {"closewait", TcpState::close_wait},
      {"lastack", TcpState::last_ack},        {"listen", TcpState::listen},
      {"listening", TcpState::listen},        {"closing", TcpState::closing},
  };
  const std::string key = normalize(text);
  for (const auto& [name, state] : names) {
    if (key == name) return state;
  }
  return std::nullopt;
}

std::string reach_note(const net::SocketAddress& local) {
  if (local.is_unspecified()) {
    return fmt::format("every interface ({}): any host that can reach this machine",
                       local.family() == AF_INET6 ? "::" : "0.0.0.0");
  }
  if (local.is_loopback()) return "this machine only (loopback)";
  return fmt::format("only via {} (hosts that can reach that address)", local.host());
}

bool matches(const Filter& filter, const Row& row) {
  const Socket& s = row.socket;
  if (filter.listening && !is_listening(s)) return false;
  if (!filter.ports.empty() &&
      std::find(filter.ports.begin(), filter.ports.end(), s.local.port()) == filter.ports.end() &&
      std::find(filter.ports.begin(), filter.ports.end(), s.remote.port()) == filter.ports.end()) {
    return false;
  }
  if (!filter.states.empty()) {
    bool any = false;
    for (TcpState want : filter.states) {
      // NEW_SYN_RECV (a request socket before accept) is SYN_RECV to a learner.
      TcpState have = s.state == TcpState::new_syn_recv ? TcpState::syn_recv : s.state;
      if (have == want) any = true;
    }
    if (!any) return false;
  }
  if (!filter.pids.empty()) {
    bool any = false;
    for (const Owner& o : row.owners) {
      if (std::find(filter.pids.begin(), filter.pids.end(), o.pid) != filter.pids.end()) any = true;
    }
    if (!any) return false;
  }
  return true;
}

namespace {

void sort_rows(std::vector<Row>& rows) {
  // Listeners first, then by local port, as a reader looks for "who listens on 8080".
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    bool la = is_listening(a.socket);
    bool lb = is_listening(b.socket);
    if (la != lb) return la;
    if (a.socket.protocol != b.socket.protocol) return a.socket.protocol < b.socket.protocol;
    return a.socket.local.port() < b.socket.local.port();
  });
}

void join(const std::vector<Socket>& sockets, const std::map<std::uint32_t, std::vector<Owner>>& owners,
          const Filter& filter, std::vector<Row>& rows) {
  for (const Socket& s : sockets) {
    Row row{s, {}};
    if (s.inode != 0) {
      auto it = owners.find(s.inode);
      if (it != owners.end()) row.owners = it->second;
    }
    if (matches(filter, row)) rows.push_back(std::move(row));
  }
  sort_rows(rows);
}

}  // namespace

bool collect(bool tcp, bool udp, bool with_info, const Filter& filter, std::vector<Row>& rows,
             std::string& error) {
  std::vector<Socket> sockets;
  if (!dump_sockets(tcp, udp, with_info, sockets, error)) return false;
  join(sockets, socket_owners(), filter, rows);
  return true;
}

bool collect_cached(bool tcp, bool udp, const Filter& filter, OwnerCache& cache, std::vector<Row>& rows,
                    std::string& error) {
  std::vector<Socket> sockets;
  if (!dump_sockets(tcp, udp, false, sockets, error)) return false;
  bool rescan = false;
  for (const Socket& s : sockets) {
    if (s.inode != 0 && cache.owners.count(s.inode) == 0 && cache.unowned.count(s.inode) == 0) rescan = true;
  }
  if (rescan) {
    cache.owners = socket_owners();
    cache.unowned.clear();
    for (const Socket& s : sockets) {
      if (s.inode != 0 && cache.owners.count(s.inode) == 0) cache.unowned[s.inode] = true;
    }
  }
  join(sockets, cache.owners, filter, rows);
  return true;
}

namespace {

// A state's colour: LISTEN waits (good), ESTABLISHED carries data (info), the handshake and the
// closing states are on their way somewhere (warning), TIME_WAIT and closed sockets are quiet.
std::string painted_state(Protocol protocol, TcpState state, bool color) {
  const std::string_view name = state_name(protocol, state);
  if (!color) return std::string(name);
  term::Role role = term::Role::warning;
  switch (state) {
    case TcpState::listen: role = term::Role::good; break;
    case TcpState::established: role = term::Role::info; break;
    case TcpState::time_wait:
    case TcpState::close: role = term::Role::quiet; break;
    default: break;
  }
  return term::paint(true, role, name);
}

// painted_state() left-aligned in `width` columns, counted without the escape codes.
std::string state_column(Protocol protocol, TcpState state, std::size_t width, bool color) {
  std::string out = painted_state(protocol, state, color);
  const std::size_t shown = state_name(protocol, state).size();
  if (shown < width) out.append(width - shown, ' ');
  return out;
}

}  // namespace

std::string format_table(const std::vector<Row>& rows, bool info, bool color) {
  // As wide as its widest entry, so that a long (or escaped) name does not push the columns
  // after it out of line.
  std::size_t owner_width = 20;
  for (const Row& row : rows) owner_width = std::max(owner_width, owner_text(row.owners).size());
  std::string out = fmt::format("{:<5} {:<11} {:<28} {:<28} {:<{}} {:>6} {:>6}", "Proto", "State", "Local Address",
                                "Remote Address", "PID/Program", owner_width, "Recv-Q", "Send-Q");
  if (info) out += fmt::format(" {:>9} {:>7} {:>5}", "RTT(ms)", "Retrans", "Cwnd");
  out += "  Note\n";
  for (const Row& row : rows) {
    const Socket& s = row.socket;
    out += fmt::format("{:<5} {} {:<28} {:<28} {:<{}} {:>6} {:>6}",
                       s.protocol == Protocol::tcp ? "tcp" : "udp", state_column(s.protocol, s.state, 11, color),
                       s.local.to_string(), remote_text(s), owner_text(row.owners), owner_width, s.recv_q, s.send_q);
    if (info) {
      if (s.has_info) {
        out += fmt::format(" {:>9.3f} {:>7} {:>5}", s.info.rtt_us / 1000.0, s.info.retransmits, s.info.snd_cwnd);
      } else {
        out += fmt::format(" {:>9} {:>7} {:>5}", "-", "-", "-");
      }
    }
    std::string note = note_of(row);
    if (!note.empty()) out += "  " + note;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  return out;
}

std::string format_json(const std::vector<Row>& rows, bool info) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const Row& row : rows) {
    const Socket& s = row.socket;
    nlohmann::ordered_json j;
    j["protocol"] = s.protocol == Protocol::tcp ? "tcp" : "udp";
    j["state"] = state_name(s.protocol, s.state);
    j["family"] = s.local.family() == AF_INET6 ? "ipv6" : "ipv4";
    j["local_address"] = s.local.host();
    j["local_port"] = s.local.port();
    j["remote_address"] = s.remote.host();
    j["remote_port"] = s.remote.port();
    nlohmann::ordered_json owners = nlohmann::ordered_json::array();
    for (const Owner& o : row.owners) owners.push_back({{"pid", o.pid}, {"program", o.program}});
    j["owners"] = owners;
    j["inode"] = s.inode;
    j["uid"] = s.uid;
    j["recv_q"] = s.recv_q;
    j["send_q"] = s.send_q;
    if (s.state == TcpState::time_wait) j["time_wait_ms_left"] = s.expires_ms;
    if (is_listening(s)) j["reachable_from"] = reach_note(s.local);
    if (info && s.has_info) {
      j["rtt_ms"] = s.info.rtt_us / 1000.0;
      j["rttvar_ms"] = s.info.rttvar_us / 1000.0;
      j["retransmits"] = s.info.retransmits;
      j["lost"] = s.info.lost;
      j["cwnd"] = s.info.snd_cwnd;
      j["mss"] = s.info.mss;
    }
    array.push_back(std::move(j));
  }
  return array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Key key_of(const Socket& s) {
  return {static_cast<int>(s.protocol), s.local.to_string(), s.remote.to_string()};
}

std::vector<Change> diff(const std::map<Key, Row>& before, const std::map<Key, Row>& after) {
  std::vector<Change> gone;
  std::vector<Change> changed;
  std::vector<Change> added;
  for (const auto& [key, row] : before) {
    if (after.find(key) == after.end()) gone.push_back({Change::Kind::gone, row, row.socket.state});
  }
  for (const auto& [key, row] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      added.push_back({Change::Kind::added, row, row.socket.state});
    } else if (it->second.socket.state != row.socket.state) {
      changed.push_back({Change::Kind::changed, row, it->second.socket.state});
    }
  }
  std::vector<Change> all = std::move(gone);
  all.insert(all.end(), changed.begin(), changed.end());
  all.insert(all.end(), added.begin(), added.end());
  return all;
}

std::string format_change(const Change& change, std::string_view timestamp, bool color) {
  const Socket& s = change.row.socket;
  const char* proto = s.protocol == Protocol::tcp ? "tcp" : "udp";
  std::string where = fmt::format("{} {} -> {}", proto, s.local.to_string(), remote_text(s));
  std::string what;
  switch (change.kind) {
    case Change::Kind::present:
      what = fmt::format("is {}", painted_state(s.protocol, s.state, color));
      break;
    case Change::Kind::added:
      what = fmt::format("new {}", painted_state(s.protocol, s.state, color));
      break;
    case Change::Kind::changed:
      what = fmt::format("{} -> {}", painted_state(s.protocol, change.from, color),
                         painted_state(s.protocol, s.state, color));
      break;
    case Change::Kind::gone:
      what = fmt::format("gone (was {})", painted_state(s.protocol, s.state, color));
      break;
  }
  std::string line = fmt::format("{} {:<60} {}", timestamp, where, what);
  if (change.kind != Change::Kind::gone && s.state == TcpState::time_wait) {
    line += fmt::format(" ({} s left)", (s.expires_ms + 999) / 1000);
    // TIME_WAIT is only reached through FIN_WAIT2 (or CLOSING, on a simultaneous close), so
    // the states a short poll missed are known (RFC 9293 §3.3.2).
    if (change.kind == Change::Kind::changed && change.from == TcpState::established) {
      line += " [via FIN_WAIT1, FIN_WAIT2 between two polls]";
    } else if (change.kind == Change::Kind::changed && change.from == TcpState::fin_wait1) {
      line += " [via FIN_WAIT2 between two polls]";
    }
  }
  if (change.kind != Change::Kind::gone && !change.row.owners.empty()) line += "  " + owner_text(change.row.owners);
  return line;
}

}  // namespace nuri::conns
