#pragma once
// The client's side of cookies (RFC 6265 §5): reading Set-Cookie, choosing the cookies of a
// request, and the Netscape cookie file that curl, wget and browsers' exporters read and write.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/url.h"

namespace nuri::client {

struct StoredCookie {
  std::string name;
  std::string value;
  std::string domain;       ///< lower-case, without a leading dot
  bool host_only = true;    ///< no Domain attribute: only this exact host gets it back
  std::string path = "/";
  bool secure = false;      ///< https only: never sent by nuri get
  bool http_only = false;
  std::int64_t expires = 0; ///< Unix time; 0: a session cookie
};

/// Parses one Set-Cookie value received from `url` (RFC 6265 §5.2 and §5.3) at Unix time
/// `now`. Returns false when the user agent must ignore it (no '=', empty or bad name, control
/// bytes, a Domain the host does not belong to, over 4096 bytes). `expired` says it deletes
/// a stored cookie (Max-Age <= 0 or Expires in the past).
bool parse_set_cookie(std::string_view header, const Url& url, std::int64_t now, StoredCookie& out, bool& expired);

/// A jar: what -b reads and -c writes.
class CookieJar {
 public:
  /// Reads a Netscape cookie file ("#HttpOnly_" prefixes included; comments and bad lines
  /// skipped). False with a reason if the file cannot be read.
  bool load(const std::string& path, std::string& error);
  /// Writes every unexpired cookie in the Netscape format (session cookies with expiry 0, as
  /// curl does). False with a reason on a write error.
  bool save(const std::string& path, std::int64_t now, std::string& error) const;
  /// One line of a Netscape file; false (and nothing stored) if it is not a cookie line.
  bool load_line(std::string_view line);

  /// Cookies given on the command line ("a=1; b=2"): sent with every request.
  void add_literal(std::string_view cookies) { literal_ = std::string(cookies); }

  /// Applies a Set-Cookie received from `url`; returns false if it was ignored.
  bool store(std::string_view set_cookie, const Url& url, std::int64_t now);

  /// The Cookie header value for a request to `url` ("" when no cookie applies): longer paths
  /// first, then older cookies first (RFC 6265 §5.4).
  std::string header_for(const Url& url, std::int64_t now) const;

  const std::vector<StoredCookie>& cookies() const { return cookies_; }

 private:
  std::vector<StoredCookie> cookies_;  // in creation order
  std::string literal_;
};

}  // namespace nuri::client
