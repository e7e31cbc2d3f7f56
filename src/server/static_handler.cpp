#include "server/static_handler.h"

#include <cerrno>

#include <fmt/format.h>

#include "http/conditional.h"
#include "http/path.h"
#include "http/range.h"

namespace nuri::server {

using http::Method;
using http::Status;

namespace {

constexpr std::string_view kAllow = "GET, HEAD, OPTIONS";

void error(Response& res, Status status) {
  res.status = status;
  res.add_header("Content-Type", "text/html; charset=utf-8");
  append_error_page(res.body, http::code(status));
}

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

}  // namespace

void append_error_page(std::string& out, int code) {
  auto reason = http::reason_phrase(code);
  fmt::format_to(std::back_inserter(out),
                 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0} {1}</title></head>\n"
                 "<body><h1>{0} {1}</h1><hr><p>nuri</p></body></html>\n",
                 code, reason);
}

StaticHandler::StaticHandler(const ServeOptions& options, FileCache* files) : options_(options), files_(files) {}

StaticHandler::~StaticHandler() = default;

Lookup StaticHandler::lookup(std::string_view path, std::int64_t now_ms) {
  if (files_) return files_->open(path, now_ms);
  if (path == "/") return {LookupKind::directory, nullptr, 0};
  if (OpenFile* page = default_site_page(path)) return {LookupKind::file, page, 0};
  return {LookupKind::error, nullptr, ENOENT};
}

void StaticHandler::release(OpenFile* file) {
  if (file && files_) files_->release(file);
}

void StaticHandler::handle(const http::Request& request, Response& res, std::int64_t now_ms) {
  if (http::normalize_path(request.path, path_) != Status::ok) return error(res, Status::bad_request);
  if (!options_.dotfiles && has_hidden_segment(path_)) return error(res, Status::not_found);

  Lookup found = lookup(path_, now_ms);
  if (found.kind == LookupKind::directory) {
    if (path_.back() != '/') {
      // RFC 9110 §15.4.2: the same resource with the trailing slash; the path as the client
      // sent it (still percent-encoded, so nothing decoded can inject into the header).
      res.status = Status::moved_permanently;
      std::string location(request.path);
      location += '/';
      if (!request.query.empty()) {
        location += '?';
        location += request.query;
      }
      res.add_header("Location", location);
      res.add_header("Content-Type", "text/html; charset=utf-8");
      append_error_page(res.body, 301);
      return;
    }
    scratch_ = path_;
    scratch_ += "index.html";
    found = lookup(scratch_, now_ms);
    if (found.kind != LookupKind::file) {
      // A directory without an index: listing it is off (nginx and Apache say 403 too).
      return error(res, found.kind == LookupKind::error && found.error != ENOENT ? status_for_errno(found.error)
                                                                                   : Status::forbidden);
    }
  }
  if (found.kind == LookupKind::error) {
    Status s = status_for_errno(found.error);
    if (s == Status::service_unavailable) res.add_header("Retry-After", "1");
    return error(res, s);
  }

  OpenFile* file = found.file;
  switch (request.method) {
    case Method::get:
    case Method::head:
      serve_file(request, file, res);
      return;
    case Method::options:
      release(file);
      res.status = Status::no_content;
      res.add_header("Allow", kAllow);
      return;
    default:
      release(file);
      res.add_header("Allow", kAllow);
      return error(res, Status::method_not_allowed);
  }
}

void StaticHandler::serve_file(const http::Request& request, OpenFile* file, Response& res) {
  http::Preconditions pre{request.find("If-Match"), request.find("If-None-Match"), request.find("If-Modified-Since"),
                          request.find("If-Unmodified-Since")};
  switch (http::evaluate_preconditions(pre, true, file->etag, file->mtime)) {
    case http::PreconditionOutcome::not_modified:
      // RFC 9110 §15.4.5: the validators a 200 would have carried, no body.
      res.status = Status::not_modified;
      res.add_header("ETag", file->etag);
      res.add_header("Last-Modified", file->last_modified_text());
      release(file);
      return;
    case http::PreconditionOutcome::failed:
      release(file);
      return error(res, Status::precondition_failed);
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
    if (auto if_range = request.find("If-Range"); if_range && !http::if_range_matches(*if_range, file->etag, file->mtime)) {
      range.reset();
    }
  }
  if (range) {
    http::RangeSet set;
    switch (http::parse_range(*range, file->size, set)) {
      case http::RangeOutcome::unsatisfiable:
        res.file = nullptr;
        release(file);
        res.add_header("Content-Range", fmt::format("bytes */{}", file->size));
        return error(res, Status::range_not_satisfiable);
      case http::RangeOutcome::satisfiable:
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
  res.status = Status::ok;
  res.add_header("Content-Type", file->content_type);
  res.segments.push_back({true, 0, file->size});
}

}  // namespace nuri::server
