#pragma once
// A back end inside the server: libnuri's routes and handlers (include/nuri/server.h) answer
// requests on the same workers, parser, limits and timers as the static files of `nuri serve`.
// The connection asks wants() when a request head is complete, reads the body (up to
// max_body_size) into memory for the requests it takes, then calls handle().
#include <sys/socket.h>

#include <cstdint>
#include <string_view>

#include "http/parser.h"
#include "server/deferred.h"
#include "server/response.h"

namespace nuri::server {

/// Turns the request being handled into a deferred one (see deferred.h): the handler returns
/// without answering and the connection waits (at most send_timeout, then 504) for complete().
class Deferrer {
 public:
  virtual Deferred defer() = 0;

 protected:
  ~Deferrer() = default;
};

struct AppRequest {
  const http::Request& head;
  std::string_view body;   ///< the whole body, de-chunked
  const sockaddr* client;  ///< the client (the one a PROXY header named, behind a proxy)
  std::string_view id;     ///< unique in this process: for logs and 500 pages
  Deferrer& deferrer;
};

/// Called from every worker thread at once: implementations must be safe for that (a router
/// fixed before the server starts is; the handlers it calls must be too).
class Application {
 public:
  virtual ~Application() = default;
  /// Whether the request (its head) goes to the application; false: to the static files.
  virtual bool wants(const http::Request& head) const = 0;
  /// Answers into `response` (reset). An exception becomes a 500 naming the request id.
  virtual void handle(const AppRequest& request, Response& response) const = 0;
};

}  // namespace nuri::server
