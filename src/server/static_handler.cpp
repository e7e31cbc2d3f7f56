#include "server/static_handler.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>

#include <fmt/format.h>

#include "http/conditional.h"
#include "http/path.h"
#include "http/percent.h"
#include "http/range.h"
#include "net/cidr.h"
#include "server/basic_auth.h"
#include "server/directory_listing.h"

namespace nuri::server {

using http::Method;
using http::Status;

namespace {

constexpr std::string_view kAllow = "GET, HEAD, OPTIONS";

// A name starting with '.' anywhere in the path (".git", ".env"), except ".well-known"
// (RFC 8615), which exists to be served.
bool has_hidden_segment(std::string_view path) {
  for (std::size_t i = 0; (i = path.find("/.", i)) != std::string_view::npos; ++i) {
    std::string_view rest = path.substr(i + 1);
    if (rest.starts_with(".well-known") && (rest.size() == 11 || rest[11] == '/')) continue;
    return true;
  }
  return false;
}

Status status_for_errno(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      return Status::not_found;
    case EACCES:
    case EPERM:
    case EXDEV:   // RESOLVE_BENEATH: the path (or a symlink in it) leads out of the root
    case ELOOP:
      return Status::forbidden;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return Status::service_unavailable;
    default:
      return Status::internal_server_error;
  }
}

thread_local std::uint64_t boundary_counter = 0;  // per worker: nothing shared

void format_error_page(std::string& out, int code) {
  auto reason = http::reason_phrase(code);
  fmt::format_to(std::back_inserter(out),
                 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0} {1}</title></head>\n"
                 "<body><h1>{0} {1}</h1><hr><p>nuri</p></body></html>\n",
                 code, reason);
}

// The pages of the 3xx-5xx codes, formatted once for the process: a stream of 404s (a scanner)
// would otherwise format the same bytes each time, about 4 % of a 404's CPU.
constexpr int kFirstPage = 300;
constexpr int kLastPage = 599;
const std::array<std::string, kLastPage - kFirstPage + 1>& rendered_error_pages() {
  static const auto pages = [] {
    std::array<std::string, kLastPage - kFirstPage + 1> all;
    for (int code = kFirstPage; code <= kLastPage; ++code) format_error_page(all[static_cast<std::size_t>(code - kFirstPage)], code);
    return all;
  }();
  return pages;
}

}  // namespace

void append_error_page(std::string& out, int code) {
  if (code >= kFirstPage && code <= kLastPage) {
    out += rendered_error_pages()[static_cast<std::size_t>(code - kFirstPage)];
  } else {
    format_error_page(out, code);
  }
}

void set_error_response(Response& res, Status status) {
  res.status = status;
  res.add_header("Content-Type", "text/html; charset=utf-8");
  append_error_page(res.body, http::code(status));
}

StaticHandler::StaticHandler(const Site& site) : site_(site) {
  for (std::size_t i = 0; i < site.root_count(); ++i) caches_.push_back(std::make_unique<FileCache>(site.root_fd(i)));
}

StaticHandler::~StaticHandler() = default;

namespace {

Lookup lookup_in(FileCache* cache, std::string_view path, std::int64_t now_ms) {
  if (cache) return cache->open(path, now_ms);
  // The built-in welcome site: one page and its directory.
  if (path == "/") return {LookupKind::directory, nullptr, 0};
  if (OpenFile* page = default_site_page(path)) return {LookupKind::file, page, 0};
  return {LookupKind::error, nullptr, ENOENT};
}

}  // namespace

Lookup StaticHandler::lookup(const SiteLocation& location, std::string_view path, std::int64_t now_ms) {
  Lookup found =
      lookup_in(location.root >= 0 ? caches_[static_cast<std::size_t>(location.root)].get() : nullptr, path, now_ms);
  if (trace_) {
    trace_->lookups.push_back({std::string(path), found.kind, found.error, found.file ? found.file->size : 0,
                               found.file ? std::string(found.file->content_type) : std::string()});
  }
  return found;
}

void StaticHandler::release(OpenFile* file) {
  if (file && file->owner) {
    file->owner->release(file);
  } else if (file && file->standalone) {
    release_standalone(file);
  }
}

bool StaticHandler::in_use() const {
  for (const auto& cache : caches_) {
    if (cache->in_use()) return true;
  }
  return false;
}

StaticHandler::Gate StaticHandler::locate(const http::Request& request, std::size_t listener,
                                          const SiteLocation*& location) {
  authenticated_user_.clear();
  if (http::normalize_path(request.path, path_) != Status::ok) {
    decided(Verdict::bad_path);
    return Gate::bad_path;
  }
  HostChoice host = site_.choose_host(request.host, listener);
  if (trace_) {
    trace_->path = path_;
    trace_->host = host;
  }
  if (!host.host) {
    decided(Verdict::unknown_host);
    return Gate::unknown_host;
  }
  location = &site_.select_location(*host.host, path_, trace_ ? &trace_->location_match : nullptr);
  if (trace_) trace_->location = location;
  return Gate::pass;
}

StaticHandler::Gate StaticHandler::admit(const SiteLocation& location, const http::Request& request,
                                         const sockaddr* client) {
  const config::Location& cfg = *location.config;
  if (client) {
    net::AccessVerdict verdict = net::access_verdict(cfg.access, client);
    if (trace_) {
      trace_->access_checked = true;
      trace_->access = verdict;
    }
    if (!verdict.allowed) {
      decided(Verdict::access_denied);
      return Gate::forbidden;
    }
  }
  if (cfg.auth) {
    auto authorization = request.find("Authorization");
    // The hash is computed in every case (basic_auth.h): no shortcut for a missing field either.
    bool allowed = basic_auth_allows(*cfg.auth, authorization, &authenticated_user_);
    if (trace_) trace_->auth = allowed ? Trace::Auth::accepted : authorization ? Trace::Auth::rejected : Trace::Auth::missing;
    if (!allowed) {
      decided(Verdict::auth_required);
      return Gate::unauthorized;
    }
  }
  return Gate::pass;
}

void StaticHandler::handle(const http::Request& request, Response& res, std::int64_t now_ms, const sockaddr* client,
                           std::size_t listener) {
  const SiteLocation* found = nullptr;
  switch (locate(request, listener, found)) {
    case Gate::bad_path:
      return set_error_response(res, Status::bad_request);
    case Gate::unknown_host:
      return set_error_response(res, site_.config().unknown_host == config::UnknownHost::misdirected
                                         ? Status::misdirected_request
                                         : Status::not_found);
    default:
      break;
  }
  const SiteLocation& location = *found;
  const config::Location& cfg = *location.config;
  switch (admit(location, request, client)) {
    case Gate::forbidden:
      set_error_response(res, Status::forbidden);
      break;
    case Gate::unauthorized:
      set_error_response(res, Status::unauthorized);
      // RFC 7617 §2: the realm, and that credentials are UTF-8.
      res.add_header("WWW-Authenticate", fmt::format("Basic realm=\"{}\", charset=\"UTF-8\"", cfg.auth->realm));
      break;
    default:
      serve_location(request, res, now_ms, location);
      break;
  }
  for (const auto& [name, value] : cfg.headers) res.add_header(name, value);
  int code = http::code(res.status);
  if (!cfg.cache_control.empty() && (code == 200 || code == 206 || code == 304)) {
    res.add_header("Cache-Control", cfg.cache_control);
  }
  if (code >= 400 && !cfg.error_pages.empty()) apply_error_page(location, res, now_ms);
}

proxy::Group* StaticHandler::proxy_upstreams(const http::Request& request, const sockaddr* client,
                                             std::size_t listener) {
  const SiteLocation* location = nullptr;
  // Only a proxying location's rules are checked here: handle() checks the others (and
  // authentication costs a crypt(3) hash, not to be paid twice).
  if (locate(request, listener, location) != Gate::pass || !location->upstreams) return nullptr;
  if (admit(*location, request, client) != Gate::pass) return nullptr;
  decided(Verdict::proxy);
  return location->upstreams;
}

void StaticHandler::serve_location(const http::Request& request, Response& res, std::int64_t now_ms,
                                   const SiteLocation& location) {
  const config::Location& cfg = *location.config;
  // A proxying location never serves files (a request only gets here when a reload made the
  // location proxy after its head was read).
  if (location.upstreams) {
    decided(Verdict::proxy_after_reload);
    return set_error_response(res, Status::bad_gateway);
  }
  if (cfg.redirect) {
    decided(Verdict::redirect);
    res.status = static_cast<Status>(cfg.redirect->status);
    res.add_header("Location", cfg.redirect->target);
    res.add_header("Content-Type", "text/html; charset=utf-8");
    append_error_page(res.body, cfg.redirect->status);
    return;
  }
  if (!cfg.dotfiles && has_hidden_segment(path_)) {
    decided(Verdict::dotfile);
    return set_error_response(res, Status::not_found);
  }
  for (const std::string& hidden : cfg.hidden) {
    // "/private/" hides "/private" too: its 301 to "/private/" would say the directory exists.
    bool the_directory_itself = hidden.ends_with('/') && path_.size() + 1 == hidden.size() && hidden.starts_with(path_);
    if (path_.starts_with(hidden) || the_directory_itself) {
      decided(Verdict::hidden);
      return set_error_response(res, Status::not_found);
    }
  }

  Lookup found = lookup(location, path_, now_ms);
  if (found.kind == LookupKind::directory) {
    if (path_.back() != '/') {
      // RFC 9110 §15.4.2: the same resource with the trailing slash. Built from the normalized
      // path, encoded again, never from the target as sent: "//evil.example/..%2fdir" names
      // the directory /dir, and sent back as it came it would be a reference to another site
      // (an open redirect). The normalized path starts with a single '/', and encoding keeps
      // anything decoded from reaching the header.
      decided(Verdict::directory_slash);
      res.status = Status::moved_permanently;
      std::string target;
      http::percent_encode_path_append(path_, target);
      target += '/';
      if (!request.query.empty()) {
        target += '?';
        target += request.query;
      }
      res.add_header("Location", target);
      res.add_header("Content-Type", "text/html; charset=utf-8");
      append_error_page(res.body, 301);
      return;
    }
    found = {LookupKind::error, nullptr, ENOENT};
    for (const std::string& index : cfg.index) {
      scratch_ = path_;
      scratch_ += index;
      found = lookup(location, scratch_, now_ms);
      if (found.kind == LookupKind::file || (found.kind == LookupKind::error && found.error != ENOENT)) break;
    }
    if (found.kind != LookupKind::file && cfg.directory_listing && location.root >= 0 &&
        (found.kind != LookupKind::error || found.error == ENOENT)) {
      return list_directory(request, res, location);
    }
    if (found.kind != LookupKind::file) {
      // A directory without an index: listing it is off (nginx and Apache say 403 too).
      decided(found.kind == LookupKind::error && found.error != ENOENT ? Verdict::lookup_failed : Verdict::no_index);
      return set_error_response(res, found.kind == LookupKind::error && found.error != ENOENT
                                         ? status_for_errno(found.error)
                                         : Status::forbidden);
    }
  }
  if (found.kind == LookupKind::error) {
    decided(Verdict::lookup_failed);
    Status s = status_for_errno(found.error);
    if (s == Status::service_unavailable) res.add_header("Retry-After", "1");
    return set_error_response(res, s);
  }

  OpenFile* file = found.file;
  switch (request.method) {
    case Method::get:
    case Method::head:
      serve_file(request, file, res);
      return;
    case Method::options:
      decided(Verdict::options);
      release(file);
      res.status = Status::no_content;
      res.add_header("Allow", kAllow);
      return;
    default:
      decided(Verdict::method_not_allowed);
      release(file);
      res.add_header("Allow", kAllow);
      return set_error_response(res, Status::method_not_allowed);
  }
}

void StaticHandler::list_directory(const http::Request& request, Response& res, const SiteLocation& location) {
  decided(Verdict::directory_listing);
  int fd = caches_[static_cast<std::size_t>(location.root)]->open_directory(path_);
  if (fd < 0) {
    decided(Verdict::listing_failed);
    return set_error_response(res, status_for_errno(errno));
  }
  bool json = false;
  for (std::string_view q = request.query; !q.empty();) {
    auto amp = q.find('&');
    if (q.substr(0, amp) == "format=json") json = true;
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
  }
  bool ok = render_directory_listing(fd, path_, json ? ListingFormat::json : ListingFormat::html,
                                     location.config->dotfiles, res.body, kMaxListingEntries, location.config->hidden);
  ::close(fd);
  if (!ok) {
    decided(Verdict::listing_failed);
    return set_error_response(res, Status::forbidden);
  }
  res.status = Status::ok;
  res.add_header("Content-Type", json ? "application/json" : "text/html; charset=utf-8");
}

void StaticHandler::apply_error_page(const SiteLocation& location, Response& res, std::int64_t now_ms) {
  // Like Apache's ErrorDocument with a local path: the page's content, the error's status.
  auto it = location.config->error_pages.find(http::code(res.status));
  if (it == location.config->error_pages.end() || location.root < 0) return;
  std::string page;
  if (http::normalize_path(it->second, page) != Status::ok) return;
  Lookup found = caches_[static_cast<std::size_t>(location.root)]->open(page, now_ms);
  if (found.kind != LookupKind::file) return;
  if (trace_) trace_->error_page = page;
  // Keep the fields that belong to the error (Allow, WWW-Authenticate, Retry-After...), drop
  // the default page's Content-Type.
  std::string kept;
  std::string_view headers = res.headers;
  while (!headers.empty()) {
    auto end = headers.find("\r\n");
    std::string_view line = headers.substr(0, end + 2);
    headers.remove_prefix(line.size());
    if (!http::iequals(line.substr(0, 13), "Content-Type:")) kept += line;
  }
  res.headers = std::move(kept);
  res.add_header("Content-Type", found.file->content_type);
  res.body.clear();
  release(res.file);
  res.file = found.file;
  res.segments.clear();
  res.segments.push_back({true, 0, found.file->size});
}

void StaticHandler::serve_file(const http::Request& request, OpenFile* file, Response& res) {
  // If-Match and If-None-Match are lists: two field lines are one list (RFC 9110 §5.3), and a
  // tag in the second line counts as much as one in the first.
  http::Preconditions pre{request.find_list("If-Match", if_match_list_), request.find_list("If-None-Match", if_none_match_list_),
                          request.find("If-Modified-Since"), request.find("If-Unmodified-Since")};
  switch (http::evaluate_preconditions(pre, true, file->etag, file->mtime)) {
    case http::PreconditionOutcome::not_modified:
      // RFC 9110 §15.4.5: the validators a 200 would have carried, no body.
      decided(Verdict::not_modified);
      res.status = Status::not_modified;
      res.add_header("ETag", file->etag);
      res.add_header("Last-Modified", file->last_modified_text());
      release(file);
      return;
    case http::PreconditionOutcome::failed:
      decided(Verdict::precondition_failed);
      release(file);
      return set_error_response(res, Status::precondition_failed);
    case http::PreconditionOutcome::proceed:
      break;
  }

  res.add_header("Last-Modified", file->last_modified_text());
  res.add_header("ETag", file->etag);
  res.add_header("Accept-Ranges", "bytes");
  res.file = file;

  // RFC 9110 §14.2: Range only on GET; If-Range decides whether it still applies.
  auto range = request.method == Method::get ? request.find("Range") : std::nullopt;
  if (range) {
    auto if_range = request.find("If-Range");
    if (if_range && !http::if_range_matches(*if_range, file->etag, file->mtime, std::time(nullptr))) {
      range.reset();
    }
  }
  if (range) {
    http::RangeSet set;
    switch (http::parse_range(*range, file->size, set)) {
      case http::RangeOutcome::unsatisfiable:
        decided(Verdict::range_unsatisfiable);
        res.file = nullptr;
        res.add_header("Content-Range", fmt::format("bytes */{}", file->size));
        release(file);
        return set_error_response(res, Status::range_not_satisfiable);
      case http::RangeOutcome::satisfiable:
        decided(Verdict::partial_content);
        res.status = Status::partial_content;
        if (set.count == 1) {
          const auto& r = set.ranges[0];
          res.add_header("Content-Type", file->content_type);
          res.add_header("Content-Range", fmt::format("bytes {}-{}/{}", r.first, r.last, file->size));
          res.segments.push_back({true, r.first, r.length()});
          return;
        }
        {
          // RFC 9110 §14.6: multipart/byteranges, each part with its own Content-Range.
          std::uint64_t n = ++boundary_counter;
          std::string boundary = fmt::format("{:016x}{:04x}", std::hash<std::string>{}(file->etag) ^ (n * 0x9e3779b97f4a7c15u),
                                             n & 0xffff);
          res.add_header("Content-Type", "multipart/byteranges; boundary=" + boundary);
          for (std::size_t i = 0; i < set.count; ++i) {
            const auto& r = set.ranges[i];
            std::size_t start = res.body.size();
            fmt::format_to(std::back_inserter(res.body), "{}--{}\r\nContent-Type: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
                           i == 0 ? "" : "\r\n", boundary, file->content_type, r.first, r.last, file->size);
            res.segments.push_back({false, start, res.body.size() - start});
            res.segments.push_back({true, r.first, r.length()});
          }
          std::size_t start = res.body.size();
          fmt::format_to(std::back_inserter(res.body), "\r\n--{}--\r\n", boundary);
          res.segments.push_back({false, start, res.body.size() - start});
        }
        return;
      case http::RangeOutcome::ignore:
        break;
    }
  }
  decided(Verdict::file);
  res.status = Status::ok;
  res.add_header("Content-Type", file->content_type);
  res.segments.push_back({true, 0, file->size});
}

}  // namespace nuri::server
