#pragma once
// `nuri conns`: the sockets of this machine as netstat -ano / ss -tanp show them, with who owns
// each, who can reach each listener, and (--watch) every state change as it happens.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "conns/sock_diag.h"

namespace nuri::conns {

/// A process that holds a socket open.
struct Owner {
  int pid = 0;
  std::string program;  ///< /proc/PID/comm
};

/// Maps socket inodes to the processes holding them, by reading the /proc/*/fd links
/// ("socket:[INODE]"). Processes this user may not inspect are skipped.
std::map<std::uint32_t, std::vector<Owner>> socket_owners();

/// The name ss prints: "ESTAB"-style names are not used; these are the lecture's (and netstat's)
/// names: LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, ... UDP's close is UNCONN.
std::string_view state_name(Protocol protocol, TcpState state);

/// Parses a --state value: "listen", "established", "time-wait", "TIME_WAIT", "fin-wait-1",
/// "syn-recv", "unconn"... (case and -/_ ignored). nullopt if unknown.
std::optional<TcpState> parse_state(std::string_view text);

/// Who can connect to a listening address: "every interface (0.0.0.0)", "this machine only"...
std::string reach_note(const net::SocketAddress& local);

/// A socket with its owners, as printed.
struct Row {
  Socket socket;
  std::vector<Owner> owners;
};

struct Filter {
  std::vector<std::uint16_t> ports;       ///< local or remote port is one of these (empty: any)
  std::vector<TcpState> states;           ///< empty: any
  std::vector<int> pids;                  ///< owned by one of these (empty: any)
  bool listening = false;                 ///< LISTEN sockets (and unconnected UDP) only
};

bool matches(const Filter& filter, const Row& row);

/// Reads, joins with owners and filters. false + error when netlink fails.
bool collect(bool tcp, bool udp, bool with_info, const Filter& filter, std::vector<Row>& rows,
             std::string& error);

/// Owners remembered between the polls of --watch: scanning /proc costs ~10 ms of CPU on a
/// machine with ~130 processes, so it is done again only when a socket shows an inode the last
/// scan did not see.
struct OwnerCache {
  std::map<std::uint32_t, std::vector<Owner>> owners;
  std::map<std::uint32_t, bool> unowned;  ///< inodes the last scan found no process for
};

/// collect() for --watch: owners from `cache`, refreshed only for inodes it has not seen.
bool collect_cached(bool tcp, bool udp, const Filter& filter, OwnerCache& cache, std::vector<Row>& rows,
                    std::string& error);

/// The table, with a header line. `info` adds the tcp_info columns. `color`: the State column
/// in the terminal palette (state_role()), the columns still aligned.
std::string format_table(const std::vector<Row>& rows, bool info, bool color = false);
/// A JSON array of objects, one per row.
std::string format_json(const std::vector<Row>& rows, bool info);

/// What identifies a connection across polls: protocol, local, remote.
using Key = std::tuple<int, std::string, std::string>;
Key key_of(const Socket& s);

/// One change seen between two polls.
struct Change {
  enum class Kind : std::uint8_t { present, added, changed, gone } kind = Kind::added;  ///< present: there at the first poll
  Row row;                      ///< the new row (for gone: the last row seen)
  TcpState from = TcpState::close;
};

/// Compares two polls. Both maps are keyed by key_of(). Order: gone, changed, new, each by key.
std::vector<Change> diff(const std::map<Key, Row>& before, const std::map<Key, Row>& after);

/// "12:34:56.789 tcp 127.0.0.1:40000 -> 127.0.0.1:8080 ESTABLISHED -> TIME_WAIT (60 s left)";
/// `color`: the states coloured as in the table.
std::string format_change(const Change& change, std::string_view timestamp, bool color = false);

}  // namespace nuri::conns
