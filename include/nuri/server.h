#pragma once
// libnuri: an HTTP back end in a few lines, answered on the same workers, parser, limits and
// timers as `nuri serve` (one code path, not a second server).
//
//   nuri::Server server;
//   server.get("/items/{id:int}", [](const nuri::Request& req, nuri::Response& res) {
//     res.json({{"id", *req.int_param("id")}});
//   });
//   server.listen("127.0.0.1:8080");
//   return server.run();  // until SIGTERM or Ctrl-C
//
// Patterns: literal segments, {name} (one segment), {name:int} (an int64), {name:*} (the rest
// of the path); the most specific route wins. A path no route matches is 404 (or a static file,
// with static_files()); a path matched with another method is 405 with Allow; a path holding
// "%00" is 400. Query, cookies and forms (url-encoded or multipart) and JSON bodies are parsed
// before the handler runs: malformed ones get 400, oversized 413.
//
// Handlers run on the worker threads, several at once: whatever they share must be
// thread-safe. A handler that throws gets the client a 500 naming a request id, which the
// error log repeats with the exception's message; the worker goes on. A handler that must wait
// (for an upstream, a timer, work on another thread) does not block its worker: it takes
// res.later() and returns, and answers through it when it can (see Later).
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace nuri {

/// A file part of a multipart/form-data body, held in memory (the body is bounded by
/// max_body_size). `filename` is what the client said: never use it as a path as it is.
struct Upload {
  std::string field;
  std::string filename;
  std::string content_type;
  std::string data;
};

class Request {
 public:
  std::string_view method() const;
  std::string_view target() const;        ///< as sent: "/items/42?x=1"
  /// Before '?', percent-encoded but for the unreserved characters (letters, digits, "-._~"),
  /// which are decoded (RFC 3986 §6.2.2.2): "/%61dmin" is "/admin", as the router matches it,
  /// so a hook's check of a prefix cannot be passed by spelling the path another way. Other
  /// escapes stay as sent ("/a%2Fb" is one segment, not two).
  std::string_view path() const;
  std::string_view id() const;            ///< unique in this process ("0-2a"), as in the logs
  std::string_view client() const;        ///< the client's address ("127.0.0.1", "::1")

  /// A route parameter (decoded), empty when the route has none of that name.
  std::string_view param(std::string_view name) const;
  /// An {name:int} parameter as a number (nullopt for another type or name).
  std::optional<std::int64_t> int_param(std::string_view name) const;

  /// The first value of a query parameter, decoded ("a=1&a=2": "1"); all() for every one.
  std::optional<std::string_view> query(std::string_view name) const;
  std::vector<std::string_view> query_all(std::string_view name) const;

  /// A header field's value (name case-insensitive), the first one when repeated.
  std::optional<std::string_view> header(std::string_view name) const;
  std::optional<std::string_view> cookie(std::string_view name) const;

  /// The whole body (de-chunked). Its size is bounded by max_body_size (413 past it).
  std::string_view body() const;
  /// Whether the body is a form: application/x-www-form-urlencoded or multipart/form-data.
  /// Then form() reads its fields (multipart: the parts without a filename), files() its files.
  bool is_form() const;
  bool is_multipart() const;
  std::optional<std::string_view> form(std::string_view name) const;
  std::vector<std::string_view> form_all(std::string_view name) const;
  const std::vector<Upload>& files() const;
  const Upload* file(std::string_view field) const;  ///< the first file of that field, or null

  /// The body parsed as JSON when its Content-Type is application/json (or ...+json), else
  /// null. Invalid JSON, or nesting deeper than 64, is answered 400 before the handler runs.
  const nlohmann::json* json() const;

  struct State;  ///< (internal)
  explicit Request(const State& state) : state_(state) {}

 private:
  const State& state_;
};

struct Cookie {
  enum class SameSite { unset, strict, lax, none };
  std::string name;
  std::string value;                    ///< cookie-octets: encode anything else first
  std::string path;                     ///< empty: no Path
  std::string domain;                   ///< empty: host-only
  std::optional<std::int64_t> max_age;  ///< seconds; 0 deletes
  std::optional<std::time_t> expires;
  bool secure = false;
  bool http_only = false;
  SameSite same_site = SameSite::unset;
};

class Response;

/// A response given later. Take it in a handler with Response::later() and return; then, from
/// any thread, finish() with a function that fills the response: it runs on the worker that
/// owns the connection (after `delay`, if given, on that worker's timers: no thread sleeps),
/// and the response is sent. Copies share the one answer: the first finish() wins. If the
/// client went away meanwhile, or the answer took longer than the send timeout (60 s: the
/// client got 504), finish() does nothing. A `fill` that throws is a 500, as for handlers.
/// After-hooks do not run on responses given later.
class Later {
 public:
  void finish(std::function<void(Response&)> fill, std::chrono::milliseconds delay = {}) const;

  struct State;  ///< (internal)
  explicit Later(std::shared_ptr<const State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<const State> state_;
};

/// A response whose body is written in pieces, as they come (progress, server-sent events, a
/// large report): take it with Response::stream() in a handler and return. The status and
/// headers set so far go at once, the body framed in chunks (HTTP/1.0: ended by closing).
/// write() and end() may be called from any thread, in order; write() says false once the
/// client is gone or more than 16 MiB behind (the connection is then closed): stop producing.
/// A stream silent for longer than the send timeout is cut off.
class Stream {
 public:
  bool write(std::string_view bytes) const;
  void end() const;

  struct State;  ///< (internal)
  explicit Stream(std::shared_ptr<const State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<const State> state_;
};

class Response {
 public:
  Response& status(int code);  ///< 100..599; default 200
  /// Adds a header field. Throws std::invalid_argument for a name that is not a token, or a
  /// value with CR, LF or NUL (header injection), or a framing field the server sets itself
  /// (Content-Length, Transfer-Encoding, Connection, Date).
  Response& header(std::string_view name, std::string_view value);
  Response& body(std::string_view bytes, std::string_view content_type = "text/plain; charset=utf-8");
  Response& html(std::string_view text) { return body(text, "text/html; charset=utf-8"); }
  /// The body is the file at `path` (sent with sendfile, never read into memory), with
  /// Content-Type from its extension unless given, Last-Modified and ETag. The path is the
  /// back end's choice: never build it from what a client sent without checking it. Throws
  /// std::system_error when it cannot be opened or is not a regular file, or holds a NUL
  /// (EINVAL: the name would end there) (a 500, unless caught).
  Response& file(std::string_view path, std::string_view content_type = {});
  /// `text` is JSON already serialized.
  Response& json_text(std::string_view text) { return body(text, "application/json"); }
  /// Serializes `value` (invalid UTF-8 in its strings is replaced with U+FFFD, not thrown on).
  Response& json(const nlohmann::json& value);
  /// 303 See Other by default (the answer to a POST); 301, 302, 307 or 308 as asked.
  Response& redirect(std::string_view location, int code = 303);
  /// Adds Set-Cookie. Throws std::invalid_argument for a cookie no browser would take.
  Response& set_cookie(const Cookie& cookie);
  /// Answer later (see Later): what this Response holds when the handler returns is dropped.
  /// Only in a handler (not in a hook, not in a Later's fill).
  Later later();
  /// Stream the body (see Stream); like later(), only in a handler.
  Stream stream();

  struct State;  ///< (internal)
  explicit Response(State& state) : state_(state) {}

 private:
  State& state_;
};

using Handler = std::function<void(const Request&, Response&)>;
/// Runs before the route's handler; return false when it answered itself (401, a redirect...).
using Before = std::function<bool(const Request&, Response&)>;
/// Runs after the handler (also after a before hook answered): add headers, log.
using After = std::function<void(const Request&, Response&)>;

class Server {
 public:
  Server();
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Adds a route. Throws std::invalid_argument with a one-line reason for a bad or
  /// conflicting pattern. Routes are fixed once run() starts.
  Server& route(std::string_view method, std::string_view pattern, Handler handler);
  Server& get(std::string_view pattern, Handler handler) { return route("GET", pattern, std::move(handler)); }
  Server& post(std::string_view pattern, Handler handler) { return route("POST", pattern, std::move(handler)); }
  Server& put(std::string_view pattern, Handler handler) { return route("PUT", pattern, std::move(handler)); }
  Server& del(std::string_view pattern, Handler handler) { return route("DELETE", pattern, std::move(handler)); }

  /// Routes under a common prefix: `auto api = server.group("/api"); api.get("/items", ...)`.
  class Group {
   public:
    Group& route(std::string_view method, std::string_view pattern, Handler handler);
    Group& get(std::string_view pattern, Handler handler) { return route("GET", pattern, std::move(handler)); }
    Group& post(std::string_view pattern, Handler handler) { return route("POST", pattern, std::move(handler)); }

   private:
    friend class Server;
    Group(Server& server, std::string prefix) : server_(server), prefix_(std::move(prefix)) {}
    Server& server_;
    std::string prefix_;
  };
  Group group(std::string_view prefix) { return Group(*this, std::string(prefix)); }

  Server& before(Before hook);  ///< in the order added
  Server& after(After hook);

  /// "ADDR:PORT" to listen on (several calls: several listeners); default 127.0.0.1:8080.
  Server& listen(std::string_view address);
  /// Serve files from `root` for paths no route matches (like `nuri serve --root`).
  Server& static_files(std::string_view root);
  Server& workers(unsigned count);           ///< 0 (default): one per core
  Server& max_body_size(std::uint64_t bytes);  ///< default 1 MiB
  Server& access_log(std::string_view path);   ///< a file or "-"; default none
  /// Seconds a response may go without progress while it is sent, and that a Later may take
  /// to answer (then the client gets 504). Default 60.
  Server& send_timeout(double seconds);

  /// Binds, prints where it listens, serves until SIGTERM or SIGINT (then drains), and returns
  /// 0; 1 or 2 with a one-line message on stderr when it cannot start. SIGHUP and SIGUSR1 work
  /// as for `nuri serve`.
  int run();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace nuri
