#pragma once
// The decisions that choose how a request is answered, as free functions: the connection calls
// them on every request and `nuri explain` calls the same ones to say what the server would do,
// so the explanation cannot drift from the server. None of them allocates or does I/O.
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/parser.h"
#include "net/cidr.h"
#include "server/file_cache.h"
#include "server/site.h"
#include "server/status_page.h"

namespace nuri::server {

/// The request parser's limits from a configuration's [limits] (414 and 431 come from these).
http::ParserLimits parser_limits(const config::Limits& limits);

/// Whether a head announces a Content-Length body over `max_body_size`: 413 before any byte of
/// it is read. (A chunked body is counted as it arrives.)
bool body_too_large(const config::Limits& limits, const http::Request& request);

/// Who answers a complete, parsed head, in the order the connection asks.
enum class Front : std::uint8_t {
  site,             ///< the site: a proxy, a redirect or files (StaticHandler)
  not_implemented,  ///< a method nuri does not know: 501
  server_options,   ///< "OPTIONS *" (RFC 9110 §9.3.7): 204 with Allow
  status_endpoint,  ///< /server-status, /metrics or /healthz of [status]
  connect,          ///< CONNECT: 405, an origin server is not a tunnel
};

/// Which of Front `request` goes to; `endpoint` says which status endpoint (else none).
Front front_of(const config::StatusPage& status, const http::Request& request, StatusEndpoint& endpoint);

/// The access rules of the status endpoints: the configuration's, or this machine only (127.0.0.0/8
/// and ::1) when it gives none (no configuration file).
const std::vector<net::AccessRule>& status_access(const config::StatusPage& status);

/// Whether a status endpoint answers `client`: ok, forbidden (its access rules; `verdict` says which
/// rule) or method_not_allowed (only GET and HEAD).
http::Status status_endpoint_check(const config::StatusPage& status, const http::Request& request,
                                   const sockaddr* client, net::AccessVerdict* verdict = nullptr);

/// The step of StaticHandler that decided a response.
enum class Verdict : std::uint8_t {
  none,
  bad_path,             ///< 400: the path does not normalize (a decoded NUL, ".." above the root)
  unknown_host,         ///< 421 or 404: `unknown_host` refuses a Host no [[host]] names
  access_denied,        ///< 403: the location's allow/deny rules
  auth_required,        ///< 401: Basic authentication missing or wrong
  proxy,                ///< the location proxies: an upstream answers
  proxy_after_reload,   ///< 502: the location became a proxy after the head was read
  redirect,             ///< the location's `return`
  dotfile,              ///< 404: a name starting with '.' and `dotfiles` off
  hidden,               ///< 404: under one of the location's `hidden` prefixes
  directory_slash,      ///< 301: a directory without its trailing slash
  directory_listing,    ///< 200: no index file, listing on
  listing_failed,       ///< the directory could not be read
  no_index,             ///< 403: a directory without an index file and listing off
  lookup_failed,        ///< openat2 failed: ENOENT 404, EXDEV/ELOOP/EACCES 403, EMFILE 503...
  not_modified,         ///< 304: If-None-Match or If-Modified-Since
  precondition_failed,  ///< 412: If-Match or If-Unmodified-Since
  range_unsatisfiable,  ///< 416
  partial_content,      ///< 206
  file,                 ///< 200: the file
  options,              ///< 204: OPTIONS on a file
  method_not_allowed,   ///< 405: a method files do not take
};

/// Why StaticHandler answered as it did, step by step. A handler fills it only when one is set
/// (StaticHandler::set_trace, for `nuri explain`): the server itself pays a null test per step.
struct Trace {
  enum class Auth : std::uint8_t { none, missing, rejected, accepted };
  struct FileLookup {
    std::string path;      ///< as opened beneath the root (or an embedded page's path)
    LookupKind kind = LookupKind::error;
    int error = 0;         ///< errno when kind is error
    std::uint64_t size = 0;
    std::string content_type;
  };

  std::string path;                   ///< the normalized path
  HostChoice host;
  const SiteLocation* location = nullptr;
  LocationMatch location_match = LocationMatch::prefix;
  bool access_checked = false;
  net::AccessVerdict access;
  Auth auth = Auth::none;
  Verdict verdict = Verdict::none;
  std::vector<FileLookup> lookups;    ///< every openat2, in order (index files included)
  std::string error_page;             ///< the `error_pages` file that replaced the body, if any

  void clear() { *this = Trace(); }
};

}  // namespace nuri::server
