#pragma once
// One client connection: reads requests, parses them, hands them to the handler, and writes the
// responses in order. Its state machine follows RFC 9112 §9 (persistence, pipelining, closing).
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/chunked.h"
#include "http/parser.h"
#include "http/response_parser.h"
#include "net/event_loop.h"
#include "server/application.h"
#include "server/client_limits.h"
#include "server/stats.h"
#include "server/status_page.h"
#include "server/timer_list.h"

namespace nuri::proxy {
class Group;
}

namespace nuri::server {

class Worker;
class UpstreamConnection;
struct OpenFile;
struct Response;

class Connection final : public net::EventHandler, private Deferrer {
 public:
  explicit Connection(Worker& worker);
  ~Connection() override;

  /// Takes over a socket accepted on listener number `listener` of the config.
  void start(int fd, const sockaddr* peer, socklen_t peer_length, std::size_t listener);

  void on_event(std::uint32_t events) override;

  /// Called by the worker when the connection's timer ran out.
  void on_timeout();

  /// The worker, when a deferred response of this connection came back: `fill` answers the
  /// request that waits, then the connection goes on with what the client sent meanwhile.
  void finish_deferred(const CompletionQueue::Fill& fill);
  /// The next piece of a streamed response (false: the connection is gone), and its end.
  bool stream_write(std::string_view bytes);
  void stream_end();

  // The reverse proxy's exchange (upstream.h) calls these; never while this connection is itself
  // calling the exchange. False: the connection is gone.
  static constexpr std::uint64_t kProxyClientHighWater = 256 * 1024;  ///< unsent bytes: the upstream waits
  std::uint64_t unsent_bytes() const { return queued_total_ - sent_total_; }
  bool proxy_head(const http::Response& head, bool tunnel, bool via);
  bool proxy_body(std::string_view bytes);  ///< queued; proxy_flush() sends
  bool proxy_flush();
  /// The response ended: whole (`complete`), or cut short (the connection closes).
  void proxy_done(bool complete);
  /// No response could be had: `status` (502, 504; 503 with Retry-After when this machine had no
  /// socket for it) goes to the client, and `why` to the error log unless it is empty.
  void proxy_fail(http::Status status, std::string_view why);
  /// The exchange can take more of the request body (or tunnel bytes).
  void proxy_resume();

  /// Shutdown: close now if idle, else finish the request in hand and close after it.
  void drain();

  /// Closes the socket at once and gives everything back to the worker.
  void close();

  bool is_open() const { return fd_ >= 0; }

  /// The config listener it came in on; a reload renumbers listeners.
  std::size_t listener() const { return listener_; }
  void set_listener(std::size_t listener) { listener_ = listener; }

  /// For the status page: who, where, doing what.
  ConnectionInfo describe() const;
  bool is_idle() const;

  ClientLimits::Slot limit_slot;   ///< what the per-client limits counted for it
  TimerNode timer;                 ///< in one of the worker's timer lists
  std::size_t index_in_worker = 0; ///< position in the worker's list of connections

 private:
  // waiting: the back end took the request and answers later (deferred.h); nothing else is
  // read or answered meanwhile, so responses stay in order.
  // streaming: its head is sent, the body comes in pieces from the back end.
  // proxying: the request went to an upstream (its body too); the response comes from there.
  // tunnel: after a 101 from the upstream, bytes pass both ways unchanged.
  enum class State : std::uint8_t { proxy_header, head, body, waiting, streaming, proxying, tunnel, linger };

  Deferred defer() override;

  void run();
  bool process();  // true: stopped because responses wait to be sent
  bool take_proxy_header();  // false: incomplete, or the connection was closed
  bool within_rate(std::string_view bytes);  // false: answered 429
  bool head_complete(std::size_t head_length);
  void begin_body(const http::Request& req);
  proxy::Group* proxy_upstreams(const http::Request& req) const;
  bool start_proxy(proxy::Group& upstreams, bool has_body);
  bool read_body();
  bool forward_body();
  void keep_unread_body();
  void forward_tunnel();
  void end_proxied_early();
  bool dispatch();  // false: the back end answers later
  bool answer_from_app(const http::Request& req, Response& res, std::string_view request_line);
  void fail_app(Response& res, std::string_view request_line, std::string_view what);
  void wait_for_app(std::size_t next_request);
  const http::Request& waiting_request(std::string_view& request_line);
  void next_request();
  void queue_stream_head(const http::Request& req, Response& res);
  void append_stream_piece(std::string_view bytes);
  void end_stream_body();
  void append_head_start(int status, const Response& res);
  void record_response(const http::Request* req, int status, std::uint64_t body_bytes, std::string_view request_line);
  void respond_error(http::Status status, std::string_view request_line);
  void serve_status(StatusEndpoint endpoint, const http::Request& request, Response& response);
  // `head`: no body, for a response to a HEAD request whose head failed to parse (no `request`).
  void queue_response(const http::Request* request, Response& response, std::string_view request_line,
                      bool head = false);
  void queue_bytes(std::size_t begin);
  void queue_file(OpenFile* file, std::uint64_t offset, std::uint64_t length);
  void flush();
  void compact_output();
  void start_linger();
  void linger_read();
  void update_timer();
  void ensure_buffer();
  void release_buffer();
  void release_output();

  void complete_responses();

  struct OutSegment {
    OpenFile* file;          // null: bytes of out_
    std::uint64_t offset;    // file offset, or offset in out_
    std::uint64_t length;    // bytes left to send
  };

  Worker& worker_;
  int fd_ = -1;
  State state_ = State::head;
  http::RequestParser parser_;
  http::ChunkedDecoder chunked_;

  char* buffer_ = nullptr;   // read buffer from the worker's pool
  std::size_t buffer_capacity_ = 0;  // its size (a reload may change the size of new ones)
  std::size_t start_ = 0;    // first byte of the current request
  std::size_t end_ = 0;      // end of received bytes
  std::size_t head_length_ = 0;
  std::size_t body_pos_ = 0;       // next unread body byte
  std::uint64_t body_left_ = 0;    // content-length bodies: bytes still to come
  bool body_chunked_ = false;
  bool to_app_ = false;              // the back end answers this request: its body is kept
  std::string body_;                 // that body, de-chunked (bounded by max_body_size)
  std::shared_ptr<DeferredTarget> deferred_;  // while the back end answers later
  std::size_t next_start_ = 0;       // waiting: where the request after this one starts
  char request_id_[40] = {};         // of the request the back end has
  std::size_t request_id_length_ = 0;
  bool stream_chunked_ = false;      // streaming: chunked framing (HTTP/1.1)
  bool stream_keep_alive_ = false;   // streaming: the connection outlives the response
  bool stream_body_ = false;         // streaming: a body is sent at all (not HEAD, 204, 304)
  int stream_status_ = 0;
  std::uint64_t stream_bytes_ = 0;
  UpstreamConnection* proxy_ = nullptr;  // the exchange of a proxied request
  bool proxy_head_sent_ = false;         // the upstream's response head went to the client
  std::string proxy_chunk_;              // a chunked request body's data, re-framed upstream

  // A std::string that holds this much has no heap storage (its small-string buffer).
  static inline const std::size_t kInlineCapacity = std::string().capacity();
  std::string out_;                  // response bytes waiting to be sent (lent by the worker)
  std::vector<OutSegment> queue_;    // what to send, in order
  std::size_t queue_head_ = 0;
  // For the request-duration histogram: where each queued response ends in the stream of bytes
  // sent on this connection, and when its request began.
  struct Timing {
    std::uint64_t end;
    std::int64_t started_ms;
  };
  std::vector<Timing> timings_;
  std::size_t timings_head_ = 0;
  std::uint64_t queued_total_ = 0;
  std::uint64_t sent_total_ = 0;
  std::int64_t request_started_ms_ = 0;  // first byte of the request being read
  bool write_blocked_ = false;
  bool close_after_output_ = false;  // Connection: close was sent
  bool peer_eof_ = false;
  bool socket_drained_ = false;      // the last read was short: wait for the next EPOLLIN
  bool peer_fin_pending_ = false;    // epoll saw the peer's FIN: a short read is not the end
  bool linger_needed_ = false;       // an error response: the client may still be sending
  bool no_linger_ = false;           // timed out: close right after the response
  bool draining_ = false;
  bool answering_ = false;         // the status page is being rendered for this connection
  std::uint32_t requests_ = 0;
  std::uint32_t timer_request_ = 0;  // requests_ when the timer was last set

  sockaddr_in6 peer_{};          // big enough for either family
  std::size_t listener_ = 0;
  std::int64_t started_ms_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::string last_request_;       // kept only while the status page is watched
  std::string auth_user_;          // the request's user, admitted by Basic auth, for the log
  char client_[INET6_ADDRSTRLEN] = {};
  std::size_t client_length_ = 0;
};

}  // namespace nuri::server
