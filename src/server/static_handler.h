#pragma once
// Serving a site's files: virtual host and location selection, access rules, Basic auth,
// redirects, GET/HEAD/OPTIONS, validators, conditional and range requests, error pages.
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "http/parser.h"
#include "server/decision.h"
#include "server/file_cache.h"
#include "server/response.h"
#include "server/site.h"

namespace nuri::server {

/// One per worker: it owns the worker's open-file caches, one per document root.
class StaticHandler {
 public:
  explicit StaticHandler(const Site& site);
  ~StaticHandler();

  /// Answers `request` into `response` (which was reset). `client`: the peer's address (for
  /// access rules); `listener`: which listener accepted it (for its default host).
  void handle(const http::Request& request, Response& response, std::int64_t now_ms, const sockaddr* client,
              std::size_t listener);

  /// The upstreams of a proxying location, when `request` goes there and passes its access
  /// rules and authentication; otherwise null (and handle() answers it: 403, 401, files...).
  proxy::Group* proxy_upstreams(const http::Request& request, const sockaddr* client, std::size_t listener);

  /// The user Basic authentication admitted for the last request handle() or proxy_upstreams()
  /// saw; empty when none was asked for it (the access log's user field).
  std::string_view authenticated_user() const { return authenticated_user_; }

  /// Gives back the file reference a response held (after it was sent or dropped).
  void release(OpenFile* file);

  /// Whether a response still holds a file of this handler's caches.
  bool in_use() const;

  /// From now on handle() and proxy_upstreams() record why they decided into `trace` (borrowed;
  /// null: stop). For `nuri explain`; the server never sets one.
  void set_trace(Trace* trace) { trace_ = trace; }

 private:
  // The site's gates, in order: the path normalizes (into path_), a host takes the Host, then
  // the location's allow/deny rules and Basic authentication.
  enum class Gate : std::uint8_t { pass, bad_path, unknown_host, forbidden, unauthorized };
  Gate locate(const http::Request& request, std::size_t listener, const SiteLocation*& location);
  Gate admit(const SiteLocation& location, const http::Request& request, const sockaddr* client);
  void decided(Verdict verdict) {
    if (trace_) trace_->verdict = verdict;
  }

  Lookup lookup(const SiteLocation& location, std::string_view path, std::int64_t now_ms);
  void serve_location(const http::Request& request, Response& response, std::int64_t now_ms,
                      const SiteLocation& location);
  void serve_file(const http::Request& request, OpenFile* file, Response& response);
  void list_directory(const http::Request& request, Response& response, const SiteLocation& location);
  void apply_error_page(const SiteLocation& location, Response& response, std::int64_t now_ms);

  const Site& site_;
  std::vector<std::unique_ptr<FileCache>> caches_;  // by root index
  std::string path_;                // scratch: the normalized path
  std::string scratch_;             // scratch: index and error page paths
  std::string authenticated_user_;  // see authenticated_user()
  std::string if_match_list_;       // scratch: If-Match field lines joined into one list
  std::string if_none_match_list_;  // scratch: the same for If-None-Match
  Trace* trace_ = nullptr;
};

/// The embedded default site's page for `path`, or null.
OpenFile* default_site_page(std::string_view path);

/// Sets `response` to `status` with nuri's small HTML error page.
void set_error_response(Response& response, http::Status status);

}  // namespace nuri::server
