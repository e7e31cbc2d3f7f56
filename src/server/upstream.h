#pragma once
// The reverse proxy's side of a request: one TCP connection to an upstream, the request sent on
// it (head, then the body as the client sends it) and the response read from it (parsed as
// strictly as requests are, then passed on as it arrives). Connections are kept per worker and
// reused (keep-alive). Nothing here calls back into a client connection while that connection is
// itself calling in: work the client starts is done after the current event, from the pool.
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/parser.h"
#include "http/response_parser.h"
#include "net/event_loop.h"
#include "proxy/upstreams.h"
#include "server/timer_list.h"

namespace nuri::server {

class Connection;
class Site;
class Worker;
class UpstreamPool;

/// Why no upstream could be reached when the cause is this machine, not the upstream: no
/// descriptor or memory for a socket (socket()), or no local port left for that destination
/// (connect(), EADDRNOTAVAIL).
enum class UpstreamShortage : std::uint8_t { none, descriptors, ports };

/// What a client connection hands over with a request for a proxying location.
struct ProxyRequest {
  std::shared_ptr<const Site> site;  ///< keeps `group` alive across a reload
  proxy::Group* group = nullptr;
  http::Method method = http::Method::get;
  bool has_body = false;  ///< body bytes follow through send()
  bool upgrade = false;   ///< the client asked to switch protocols (WebSocket)
};

/// The request head sent upstream for `request`: the target as sent (origin form), Host kept
/// (the first upstream's host and port when the client, in HTTP/1.0, sent none),
/// hop-by-hop fields dropped, X-Forwarded-For/-Proto/-Host, Forwarded and (optionally) Via
/// added, the body framed as the client framed it. Written into `out`.
void build_upstream_head(std::string& out, const http::Request& request, const sockaddr* client,
                         std::string_view client_host, const config::Proxy& config, bool upgrade);

/// Whether the client asks to switch protocols (Upgrade, with "upgrade" in Connection).
bool asks_upgrade(const http::Request& request);

/// The upstream response's fields as the client gets them: hop-by-hop fields, and those the
/// server sets itself (Date, Server, Content-Length), dropped; `via`: "1.1 nuri" joins its Via.
/// Appended to `out`.
void append_response_fields(std::string& out, const http::Response& response, bool via);

class UpstreamConnection final : public net::EventHandler {
 public:
  UpstreamConnection(Worker& worker, UpstreamPool& pool);
  ~UpstreamConnection() override;

  // From the client connection.
  /// Request body bytes, framed for the upstream. Kept until sent; see backlogged().
  void send(std::string_view bytes);
  /// Enough is waiting to be sent: the client should stop reading until proxy_resume().
  bool backlogged() const { return out_.size() - out_pos_ >= kSendHighWater; }
  /// The request (its body included) has been handed over whole.
  void request_sent();
  /// The client's unsent output went down: read the upstream again.
  void client_drained();
  /// Tunnel: the client will send nothing more.
  void client_eof();
  /// The client connection is gone: the exchange ends, the upstream connection is closed.
  void abandon();

  void on_event(std::uint32_t events) override;
  void on_timeout();

  TimerNode timer;

 private:
  friend class UpstreamPool;
  enum class Phase : std::uint8_t { free, starting, connecting, exchanging, tunnel, idle };
  static constexpr std::size_t kSendHighWater = 256 * 1024;
  static constexpr std::size_t kReadBuffer = 32 * 1024;  // a response head must fit

  void begin(Connection& client, ProxyRequest request, std::string& head, std::size_t server, bool reused);
  void pump();  // does what is due: connect, write, read
  void connect_next();
  bool open_socket(std::string& why);  // false: failed at once
  void fail_for_shortage(UpstreamShortage kind, std::string_view error);  // error: for descriptors
  void connected();
  void write_out();
  void read_in();
  void take_input();
  bool take_head();
  void on_eof(std::string_view why);
  void retry_or_fail(std::string_view why, bool upstream_fault);
  void reset_attempt();
  void fail(int status, std::string_view why);
  void finish(bool complete);
  void detach();  // the exchange's counters and the client link go
  void close_fd();
  void schedule(double seconds);
  proxy::Server& server() const { return request_.group->server(server_); }

  Worker& worker_;
  UpstreamPool& pool_;
  int fd_ = -1;
  Phase phase_ = Phase::free;
  Connection* client_ = nullptr;
  ProxyRequest request_;
  std::size_t server_ = 0;       // index in the group
  std::uint64_t tried_ = 0;      // upstreams tried for this request (bit per index)
  bool counted_ = false;         // server().active counts this exchange
  bool reused_ = false;          // the connection served an earlier request
  bool wrote_ = false;           // bytes of this request reached the socket
  bool timed_out_ = false;       // the last failure was a timeout (504 rather than 502)
  UpstreamShortage shortage_ = UpstreamShortage::none;  // why open_socket failed, if this machine's fault
  bool out_of_ports_ = false;    // some upstream of this request had no local port free
  bool request_done_ = false;
  bool client_eof_ = false;
  bool write_blocked_ = false;
  bool readable_ = false;
  bool fin_pending_ = false;     // epoll saw the upstream's FIN: a short read is not the end
  bool paused_ = false;          // the client is behind: reading waits
  bool scheduled_ = false;       // in the pool's list of work after this event

  std::string out_;              // to the upstream; out_pos_ bytes of it are sent
  std::size_t out_pos_ = 0;
  std::unique_ptr<char[]> in_;   // from the upstream
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  http::ResponseParser parser_;
  http::Response head_;
  http::BodyReader body_;
  bool got_head_ = false;
  std::string decoded_;          // a chunked body's data, before the client frames it
};

/// A worker's upstream connections: the idle ones by upstream, and the work that waits for the
/// end of the current event.
class UpstreamPool {
 public:
  explicit UpstreamPool(Worker& worker);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  /// Starts the exchange for `client`'s request (`head` is taken); its work starts after the
  /// current event. Null when no upstream of the group has an address.
  UpstreamConnection* start(Connection& client, ProxyRequest request, std::string& head);

  /// Work the client connections asked for during the event just handled.
  void run_scheduled();
  /// Upstream timeouts that ran out.
  void expire(std::int64_t now_ms);
  std::int64_t next_deadline() const { return timers_.next_deadline(); }
  /// The end of a loop turn: closed connections become reusable.
  void recycle();
  /// Reload and shutdown: idle connections belong to the old site's upstreams.
  void close_idle();

  std::size_t idle_count() const { return idle_total_; }

 private:
  friend class UpstreamConnection;
  static constexpr std::int64_t kIdleMs = 30'000;  // an unused connection is closed after this

  UpstreamConnection* fresh();
  void schedule(UpstreamConnection* u);
  /// An idle connection to `server`, or null.
  UpstreamConnection* take_idle(const proxy::Server* server);
  void keep_idle(UpstreamConnection* u);
  void drop_idle(UpstreamConnection* u);
  void retire(UpstreamConnection* u);

  Worker& worker_;
  TimerList timers_;
  std::unordered_map<const proxy::Server*, std::vector<UpstreamConnection*>> idle_;
  std::size_t idle_total_ = 0;
  std::vector<UpstreamConnection*> scheduled_;
  std::vector<UpstreamConnection*> retired_;
  std::vector<UpstreamConnection*> spare_;
  std::vector<std::unique_ptr<UpstreamConnection>> all_;
};

}  // namespace nuri::server
