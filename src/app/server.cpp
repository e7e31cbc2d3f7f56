// nuri::Server (include/nuri/server.h): routes and hooks on top of the server core. The router
// and the handlers become a server::Application that the core's connections call; the rest is
// a config::Config built from the calls instead of read from a file.
#include "nuri/server.h"

#include <errno.h>  // program_invocation_short_name (GNU)
#include <netinet/in.h>

#include <charconv>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/json_depth.h"
#include "app/request_path.h"
#include "app/router.h"
#include "config/config.h"
#include "http/chars.h"
#include "http/cookie.h"
#include "http/multipart.h"
#include "http/query.h"
#include "net/address.h"
#include "server/application.h"
#include "server/server.h"

namespace nuri {

namespace {

// A file set earlier in the same response is replaced: its reference goes back.
void drop_file(server::Response& r) {
  if (r.file && r.file->standalone) server::release_standalone(r.file);
  r.file = nullptr;
  r.segments.clear();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// "application/x-www-form-urlencoded; charset=UTF-8" → true (media types are case-insensitive).
bool is_form_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return iequals(type, "application/x-www-form-urlencoded");
}

// "application/json", "application/problem+json; charset=utf-8".
bool is_json_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  if (iequals(type, "application/json")) return true;
  std::size_t slash = type.find('/');
  return slash != std::string_view::npos && iequals(type.substr(0, slash), "application") && type.size() > 5 &&
         iequals(type.substr(type.size() - 5), "+json");
}

// Collects a multipart body's fields and files.
class FormCollector final : public http::MultipartHandler {
 public:
  FormCollector(std::vector<http::QueryParams::Pair>& fields, std::vector<Upload>& files)
      : fields_(fields), files_(files) {}
  void on_field(const http::MultipartPart& part, std::string_view value) override {
    fields_.push_back({part.name, std::string(value)});
  }
  void on_file_begin(const http::MultipartPart& part) override {
    files_.push_back({part.name, part.filename.value_or(""), part.content_type, {}});
  }
  void on_file_data(std::string_view bytes) override { files_.back().data.append(bytes); }
  void on_file_end() override {}

 private:
  std::vector<http::QueryParams::Pair>& fields_;
  std::vector<Upload>& files_;
};

void error_response(server::Response& res, http::Status status) {
  res.reset();
  res.status = status;
  res.add_header("Content-Type", "text/html; charset=utf-8");
  server::append_error_page(res.body, http::code(status));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Request and Response

struct Request::State {
  State(const server::AppRequest& r, const std::vector<app::RouteParam>& p) : request(r), params(p) {}
  const server::AppRequest& request;
  const std::vector<app::RouteParam>& params;
  std::string path;  // app::normalize_request_path's
  http::QueryParams query;
  http::QueryParams form;
  bool is_form = false;
  bool is_multipart = false;
  std::vector<http::QueryParams::Pair> multipart_fields;
  std::vector<Upload> files;
  std::optional<nlohmann::json> json;
  std::vector<http::CookiePair> cookies;
  char client[INET6_ADDRSTRLEN] = {};
  std::size_t client_length = 0;
};

std::string_view Request::method() const { return state_.request.head.method_name; }
std::string_view Request::target() const { return state_.request.head.target; }
std::string_view Request::path() const { return state_.path; }
std::string_view Request::id() const { return state_.request.id; }
std::string_view Request::client() const { return {state_.client, state_.client_length}; }
std::string_view Request::body() const { return state_.request.body; }
bool Request::is_form() const { return state_.is_form; }

std::string_view Request::param(std::string_view name) const {
  for (const app::RouteParam& p : state_.params) {
    if (p.name == name) return p.value;
  }
  return {};
}

std::optional<std::int64_t> Request::int_param(std::string_view name) const {
  for (const app::RouteParam& p : state_.params) {
    if (p.name != name) continue;
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), value);
    if (ec == std::errc() && end == p.value.data() + p.value.size()) return value;
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::query(std::string_view name) const { return state_.query.first(name); }
std::vector<std::string_view> Request::query_all(std::string_view name) const { return state_.query.all(name); }
std::optional<std::string_view> Request::header(std::string_view name) const { return state_.request.head.find(name); }
std::optional<std::string_view> Request::cookie(std::string_view name) const {
  return http::find_cookie(state_.cookies, name);
}
bool Request::is_multipart() const { return state_.is_multipart; }
const std::vector<Upload>& Request::files() const { return state_.files; }
const nlohmann::json* Request::json() const { return state_.json ? &*state_.json : nullptr; }

std::optional<std::string_view> Request::form(std::string_view name) const {
  if (!state_.is_multipart) return state_.form.first(name);
  for (const auto& field : state_.multipart_fields) {
    if (field.name == name) return field.value;
  }
  return std::nullopt;
}

std::vector<std::string_view> Request::form_all(std::string_view name) const {
  if (!state_.is_multipart) return state_.form.all(name);
  std::vector<std::string_view> out;
  for (const auto& field : state_.multipart_fields) {
    if (field.name == name) out.push_back(field.value);
  }
  return out;
}

const Upload* Request::file(std::string_view field) const {
  for (const Upload& upload : state_.files) {
    if (upload.field == field) return &upload;
  }
  return nullptr;
}

struct Response::State {
  server::Response& response;
  server::Deferrer* deferrer = nullptr;  // null where later() is not allowed
  bool has_content_type = false;
  bool later = false;  // the handler took later(): this response is not the answer
};

struct Later::State {
  server::Deferred deferred;
};

void Later::finish(std::function<void(Response&)> fill, std::chrono::milliseconds delay) const {
  state_->deferred.complete(
      [fill = std::move(fill)](server::Response& res) {
        Response::State state{res};
        Response response(state);
        fill(response);
      },
      delay.count());
}

struct Stream::State {
  server::Deferred deferred;
};

bool Stream::write(std::string_view bytes) const { return state_->deferred.write(std::string(bytes)); }
void Stream::end() const { state_->deferred.end(); }

Stream Response::stream() {
  if (!state_.deferrer) throw std::logic_error("Response::stream() is only for handlers");
  server::Deferrer* deferrer = std::exchange(state_.deferrer, nullptr);
  state_.later = true;
  server::Deferred deferred = deferrer->defer();
  // The head as the handler set it so far goes first; the pieces follow it through the queue.
  deferred.complete([status = state_.response.status, headers = state_.response.headers](server::Response& r) {
    r.status = status;
    r.headers = headers;
    r.stream = true;
  });
  return Stream(std::make_shared<const Stream::State>(Stream::State{std::move(deferred)}));
}

Later Response::later() {
  if (!state_.deferrer) throw std::logic_error("Response::later() is only for handlers");
  server::Deferrer* deferrer = std::exchange(state_.deferrer, nullptr);  // once
  state_.later = true;
  return Later(std::make_shared<const Later::State>(Later::State{deferrer->defer()}));
}

Response& Response::status(int code) {
  if (code < 100 || code > 599) throw std::invalid_argument(fmt::format("status {} is not 100..599", code));
  state_.response.status = static_cast<http::Status>(code);
  return *this;
}

Response& Response::header(std::string_view name, std::string_view value) {
  if (!http::chars::is_token(name)) throw std::invalid_argument(fmt::format("header name \"{}\" is not a token", name));
  for (std::string_view framing : {"Content-Length", "Transfer-Encoding", "Connection", "Date"}) {
    if (iequals(name, framing)) throw std::invalid_argument(fmt::format("{} is set by the server", framing));
  }
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    throw std::invalid_argument(fmt::format("header {}: the value holds CR, LF or NUL", name));
  }
  if (iequals(name, "Content-Type")) state_.has_content_type = true;
  state_.response.add_header(name, value);
  return *this;
}

Response& Response::body(std::string_view bytes, std::string_view content_type) {
  drop_file(state_.response);
  state_.response.body.assign(bytes);
  if (!state_.has_content_type && !content_type.empty()) header("Content-Type", content_type);
  return *this;
}

Response& Response::file(std::string_view path, std::string_view content_type) {
  // open() would read the path only up to a NUL: "a.txt\0.html" would send a.txt as HTML.
  if (path.find('\0') != std::string_view::npos) {
    throw std::system_error(EINVAL, std::generic_category(), "cannot send a path holding a NUL");
  }
  server::OpenFile* f = server::open_standalone(std::string(path));
  if (!f) throw std::system_error(errno, std::generic_category(), fmt::format("cannot send {}", path));
  server::Response& r = state_.response;
  drop_file(r);
  r.body.clear();
  r.file = f;
  r.segments.push_back({true, 0, f->size});
  if (!state_.has_content_type) header("Content-Type", content_type.empty() ? f->content_type : content_type);
  header("Last-Modified", f->last_modified_text());
  header("ETag", f->etag);
  return *this;
}

Response& Response::json(const nlohmann::json& value) {
  return json_text(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response& Response::redirect(std::string_view location, int code) {
  if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
    throw std::invalid_argument(fmt::format("redirect status {} is not 301, 302, 303, 307 or 308", code));
  }
  status(code);
  header("Location", location);
  return *this;
}

Response& Response::set_cookie(const Cookie& cookie) {
  http::SetCookie c;
  c.name = cookie.name;
  c.value = cookie.value;
  c.path = cookie.path;
  c.domain = cookie.domain;
  c.max_age = cookie.max_age;
  c.expires = cookie.expires;
  c.secure = cookie.secure;
  c.http_only = cookie.http_only;
  c.same_site = static_cast<http::SameSite>(static_cast<int>(cookie.same_site));
  std::string line;
  if (auto error = http::format_set_cookie(c, line); error != http::SetCookieError::ok) {
    throw std::invalid_argument(fmt::format("cookie {}: {}", cookie.name, http::describe(error)));
  }
  state_.response.add_header("Set-Cookie", line);
  return *this;
}

// ---------------------------------------------------------------------------------------------
// The application the core calls

struct Server::Parts final : server::Application {
  app::Router router;
  std::vector<Handler> handlers;
  std::vector<Before> before;
  std::vector<After> after;
  std::vector<std::string> listen;
  std::string static_root;
  std::string access_log;
  unsigned workers = 0;
  std::uint64_t max_body_size = 1 << 20;
  double send_timeout = 60;

  // Forms and JSON, by Content-Type. Other types are left to the handler as bytes.
  http::Status read_body(const server::AppRequest& request, Request::State& state) const {
    auto type = request.head.find("Content-Type");
    if (!type) return http::Status::ok;
    if (is_form_type(*type)) {
      http::QueryLimits limits;
      limits.max_size = static_cast<std::size_t>(max_body_size);
      state.is_form = true;
      return state.form.parse(request.body, limits);
    }
    std::string boundary;
    http::Status multipart = http::multipart_boundary(*type, boundary);
    if (multipart != http::Status::ok && multipart != http::Status::unsupported_media_type) {
      return multipart;  // multipart/form-data without a usable boundary
    }
    if (multipart == http::Status::ok) {
      http::MultipartLimits limits;
      limits.max_total = max_body_size;
      limits.max_field_size = std::min<std::size_t>(limits.max_field_size, static_cast<std::size_t>(max_body_size));
      FormCollector collector(state.multipart_fields, state.files);
      http::MultipartParser parser(boundary, collector, limits);
      http::MultipartParser::Result r = parser.feed(request.body);
      if (r.state != http::ParseState::error) r = parser.finish();
      if (r.state == http::ParseState::error) return r.status;
      state.is_form = state.is_multipart = true;
      return http::Status::ok;
    }
    if (is_json_type(*type)) {
      if (app::json_refused_unparsed(request.body)) return http::Status::bad_request;
      nlohmann::json value = nlohmann::json::parse(request.body, nullptr, false);
      if (value.is_discarded()) return http::Status::bad_request;
      state.json = std::move(value);
    }
    return http::Status::ok;
  }

  bool wants(const http::Request& head) const override {
    // Without static files every path is ours (404 and 405 included); with them, only the
    // paths some route matches.
    return static_root.empty() || router.match(head.method_name, head.path).outcome != app::Router::Match::Outcome::not_found;
  }

  void handle(const server::AppRequest& request, server::Response& res) const override {
    const http::Request& head = request.head;
    std::optional<std::string> path = app::normalize_request_path(head.path);
    if (!path) return error_response(res, http::Status::bad_request);  // a NUL, as for static files
    app::Router::Match match = router.match(head.method_name, *path);
    if (match.outcome == app::Router::Match::Outcome::not_found) return error_response(res, http::Status::not_found);
    if (match.outcome == app::Router::Match::Outcome::method_not_allowed) {
      error_response(res, http::Status::method_not_allowed);
      res.add_header("Allow", match.allow);
      return;
    }
    Request::State state(request, match.params);
    state.path = std::move(*path);
    // What the client sent is parsed before any handler sees it: malformed input is the
    // client's error (400, 413, 431), not the handler's to trip over.
    if (http::Status s = state.query.parse(head.query); s != http::Status::ok) return error_response(res, s);
    for (std::size_t i = 0; i < head.header_count; ++i) {
      if (!iequals(head.headers[i].name, "Cookie")) continue;
      if (http::Status s = http::parse_cookie_header(head.headers[i].value, state.cookies); s != http::Status::ok) {
        return error_response(res, s);
      }
    }
    if (http::Status s = read_body(request, state); s != http::Status::ok) return error_response(res, s);
    state.client_length = net::format_host(request.client, state.client, sizeof state.client);

    Request req(state);
    Response::State out{res};
    Response response(out);
    auto run_handler = [&] {
      out.deferrer = &request.deferrer;
      handlers[match.id](req, response);
      out.deferrer = nullptr;
    };
    bool go_on = true;
    for (const Before& hook : before) {
      if (!(go_on = hook(req, response))) break;
    }
    if (go_on) run_handler();
    if (out.later) return;  // the answer comes later; after-hooks see only answers given now
    for (const After& hook : after) hook(req, response);
  }
};

Server::Server() : parts_(std::make_unique<Parts>()) {}
Server::~Server() = default;

Server& Server::route(std::string_view method, std::string_view pattern, Handler handler) {
  std::string error;
  if (!handler) throw std::invalid_argument(fmt::format("route {} {}: no handler", method, pattern));
  if (!parts_->router.add(method, pattern, parts_->handlers.size(), error)) throw std::invalid_argument(error);
  parts_->handlers.push_back(std::move(handler));
  return *this;
}

Server::Group& Server::Group::route(std::string_view method, std::string_view pattern, Handler handler) {
  server_.route(method, prefix_ + std::string(pattern), std::move(handler));
  return *this;
}

Server& Server::before(Before hook) {
  parts_->before.push_back(std::move(hook));
  return *this;
}

Server& Server::after(After hook) {
  parts_->after.push_back(std::move(hook));
  return *this;
}

Server& Server::listen(std::string_view address) {
  parts_->listen.emplace_back(address);
  return *this;
}

Server& Server::static_files(std::string_view root) {
  parts_->static_root = root;
  return *this;
}

Server& Server::workers(unsigned count) {
  parts_->workers = count;
  return *this;
}

Server& Server::max_body_size(std::uint64_t bytes) {
  parts_->max_body_size = bytes;
  return *this;
}

Server& Server::send_timeout(double seconds) {
  parts_->send_timeout = seconds;
  return *this;
}

Server& Server::access_log(std::string_view path) {
  parts_->access_log = path;
  return *this;
}

int Server::run() {
  config::Config config;
  config.source = "nuri::Server";
  for (const std::string& text : parts_->listen.empty() ? std::vector<std::string>{"127.0.0.1:8080"} : parts_->listen) {
    auto address = net::SocketAddress::parse(text);
    if (!address) {
      fmt::print(stderr, "nuri: listen \"{}\": expected ADDR:PORT, like 127.0.0.1:8080 or [::]:80\n", text);
      return 2;
    }
    config::Listener listener;
    listener.address = *address;
    config.listeners.push_back(std::move(listener));
  }
  config::VirtualHost host;
  if (!parts_->static_root.empty()) {
    std::error_code ec;
    std::filesystem::path root = std::filesystem::absolute(parts_->static_root, ec).lexically_normal();
    if (ec || !std::filesystem::is_directory(root, ec)) {
      fmt::print(stderr, "nuri: static_files \"{}\": not a directory\n", parts_->static_root);
      return 2;
    }
    host.root = root.string();
  }
  host.locations.emplace_back();
  config.hosts.push_back(std::move(host));
  config.workers = parts_->workers;
  config.limits.max_body_size = parts_->max_body_size;
  config.limits.send_timeout = parts_->send_timeout;
  config.access_log = parts_->access_log;
  // The same configuration again on SIGHUP: what can change lives in the code.
  // Messages start with the program's own name ("shop: listening on ..."), as a server's should.
  return server::serve([config](std::vector<std::string>&) { return std::optional<config::Config>(config); },
                       parts_.get(), program_invocation_short_name);
}

}  // namespace nuri
