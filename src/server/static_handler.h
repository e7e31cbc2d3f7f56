#pragma once
// Serving files from a document root (or the embedded default site): GET, HEAD and OPTIONS,
// validators, conditional and range requests.
#include <string>

#include "http/parser.h"
#include "server/file_cache.h"
#include "server/options.h"
#include "server/response.h"

namespace nuri::server {

class StaticHandler {
 public:
  /// `files`: the worker's cache of the root, or null to serve the embedded default site.
  StaticHandler(const ServeOptions& options, FileCache* files);
  ~StaticHandler();

  /// Answers `request` into `response` (which was reset). `now_ms`: the worker's clock.
  void handle(const http::Request& request, Response& response, std::int64_t now_ms);

  /// Gives back the file reference a response held (after it was sent or dropped).
  void release(OpenFile* file);

 private:
  Lookup lookup(std::string_view path, std::int64_t now_ms);
  void serve_file(const http::Request& request, OpenFile* file, Response& response);

  const ServeOptions& options_;
  FileCache* files_;
  std::string path_;     // scratch: the normalized path
  std::string scratch_;  // scratch: the index path
};

/// The embedded default site's page for `path`, or null.
OpenFile* default_site_page(std::string_view path);

}  // namespace nuri::server
