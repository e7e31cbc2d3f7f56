#include "server/decision.h"

namespace nuri::server {

http::ParserLimits parser_limits(const config::Limits& o) {
  http::ParserLimits limits;
  limits.max_target_bytes = o.max_uri_size;
  limits.max_head_bytes = o.max_header_size;
  return limits;
}

bool body_too_large(const config::Limits& limits, const http::Request& request) {
  return request.framing == http::BodyFraming::content_length && request.content_length > limits.max_body_size;
}

Front front_of(const config::StatusPage& status, const http::Request& request, StatusEndpoint& endpoint) {
  endpoint = StatusEndpoint::none;
  if (request.method == http::Method::unknown) return Front::not_implemented;
  // The parser allows the asterisk form with OPTIONS only.
  if (request.form == http::TargetForm::asterisk) return Front::server_options;
  // The exact path as sent, origin form only: "/server-status/" or "//server-status" are the
  // site's, as is an absolute-form target (what a proxy in front would send for another host).
  if (status.enabled && request.form == http::TargetForm::origin) {
    if (request.path == status.path) {
      endpoint = StatusEndpoint::status;
    } else if (request.path == status.metrics_path) {
      endpoint = StatusEndpoint::metrics;
    } else if (request.path == status.health_path) {
      endpoint = StatusEndpoint::health;
    }
    if (endpoint != StatusEndpoint::none) return Front::status_endpoint;
  }
  if (request.method == http::Method::connect) return Front::connect;
  return Front::site;
}

const std::vector<net::AccessRule>& status_access(const config::StatusPage& status) {
  // Without rules (no configuration file): this machine only, like mod_status's usual setup.
  static const std::vector<net::AccessRule> kLocalOnly = {
      {true, *net::Cidr::parse("127.0.0.0/8")}, {true, *net::Cidr::parse("::1")}, {false, *net::Cidr::parse("all")}};
  return status.access.empty() ? kLocalOnly : status.access;
}

http::Status status_endpoint_check(const config::StatusPage& status, const http::Request& request,
                                   const sockaddr* client, net::AccessVerdict* verdict) {
  net::AccessVerdict v = net::access_verdict(status_access(status), client);
  if (verdict) *verdict = v;
  if (!v.allowed) return http::Status::forbidden;
  if (request.method != http::Method::get && request.method != http::Method::head) {
    return http::Status::method_not_allowed;
  }
  return http::Status::ok;
}

}  // namespace nuri::server
