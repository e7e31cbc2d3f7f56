#pragma once
#include <cstdint>
#include <string_view>

namespace nuri::http {

/// HTTP status codes that nuri produces (RFC 9110 §15). The numeric value is the code.
enum class Status : std::uint16_t {
  none = 0,
  continue_ = 100,
  ok = 200,
  no_content = 204,
  partial_content = 206,
  moved_permanently = 301,
  found = 302,
  not_modified = 304,
  temporary_redirect = 307,
  permanent_redirect = 308,
  bad_request = 400,
  unauthorized = 401,
  forbidden = 403,
  not_found = 404,
  method_not_allowed = 405,
  request_timeout = 408,
  length_required = 411,
  precondition_failed = 412,
  content_too_large = 413,
  uri_too_long = 414,
  unsupported_media_type = 415,
  range_not_satisfiable = 416,
  expectation_failed = 417,
  misdirected_request = 421,
  unprocessable_content = 422,
  too_many_requests = 429,
  header_fields_too_large = 431,
  internal_server_error = 500,
  not_implemented = 501,
  bad_gateway = 502,
  service_unavailable = 503,
  gateway_timeout = 504,
  http_version_not_supported = 505,
};

/// The numeric code of `s`.
constexpr int code(Status s) { return static_cast<int>(s); }

/// The reason phrase of RFC 9110 for `code` ("Not Found"), or "Unknown" for codes nuri never sends.
std::string_view reason_phrase(int code);

}  // namespace nuri::http
