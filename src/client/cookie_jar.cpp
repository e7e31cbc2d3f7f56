#include "client/cookie_jar.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "http/date.h"

namespace nuri::client {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// RFC 6265 §5.1.3.
bool domain_match(const std::string& host, const std::string& domain) {
  if (host == domain) return true;
  return host.size() > domain.size() && host.ends_with(domain) && host[host.size() - domain.size() - 1] == '.' &&
         !is_ip(host);
}

// RFC 6265 §5.1.4.
std::string default_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return "/";
  std::size_t last = path.rfind('/');
  return last == 0 ? "/" : std::string(path.substr(0, last));
}

bool path_match(std::string_view request, std::string_view cookie) {
  if (request == cookie) return true;
  if (!request.starts_with(cookie)) return false;
  return cookie.back() == '/' || request[cookie.size()] == '/';
}

bool parse_int64(std::string_view s, std::int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// RFC 6265 §5.2.2: a '-' or a digit, then digits only. A number too large for 64 bits still
// means a far future (the latest time, capped below) or a far past (expired), not "no Max-Age".
std::optional<std::int64_t> parse_max_age(std::string_view s) {
  if (s.empty() || !(s[0] == '-' || std::isdigit(static_cast<unsigned char>(s[0])))) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (p != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return s[0] == '-' ? INT64_MIN : INT64_MAX;
  if (ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace

bool parse_set_cookie(std::string_view header, const Url& url, std::int64_t now, StoredCookie& out, bool& expired) {
  expired = false;
  out = StoredCookie{};
  if (header.size() > 8192 || has_control(header)) return false;
  std::size_t semi = header.find(';');
  std::string_view pair = header.substr(0, semi);
  std::size_t eq = pair.find('=');
  if (eq == std::string_view::npos) return false;
  std::string_view name = trim(pair.substr(0, eq));
  std::string_view value = trim(pair.substr(eq + 1));
  if (name.empty() || name.size() + value.size() > 4096) return false;
  // A name or value that would break the Cookie header or the cookie file.
  auto breaks = [](std::string_view s) { return s.find_first_of(";\t") != std::string_view::npos; };
  if (breaks(name) || breaks(value) || name.find('=') != std::string_view::npos) return false;
  out.name = std::string(name);
  out.value = std::string(value);
  std::string domain_attr;
  std::optional<std::int64_t> max_age;
  std::optional<std::int64_t> expires;
  bool path_set = false;
  std::string_view rest = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
  while (!rest.empty()) {
    std::size_t next = rest.find(';');
    std::string_view attr = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    std::size_t aeq = attr.find('=');
    std::string key = lower(trim(attr.substr(0, aeq)));
    std::string_view val = aeq == std::string_view::npos ? std::string_view() : trim(attr.substr(aeq + 1));
    if (key == "expires") {
      if (auto t = http::parse_http_date(val)) expires = static_cast<std::int64_t>(*t);
    } else if (key == "max-age") {
      if (auto seconds = parse_max_age(val)) max_age = seconds;
    } else if (key == "domain") {
      std::string_view d = val;
      if (!d.empty() && d[0] == '.') d.remove_prefix(1);
      domain_attr = lower(d);
    } else if (key == "path") {
      // RFC 6265 §4.1.1: path-value is any CHAR but CTLs (tab included) and ';'.
      bool ctl = std::any_of(val.begin(), val.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      });
      if (!val.empty() && val[0] == '/' && !ctl) {
        out.path = std::string(val);
        path_set = true;
      }
    } else if (key == "secure") {
      out.secure = true;
    } else if (key == "httponly") {
      out.http_only = true;
    }
  }
  if (!path_set) out.path = default_path(url.path());
  if (!domain_attr.empty()) {
    // §5.3 step 6: the host must belong to the domain; an address only matches itself.
    if (!domain_match(url.host, domain_attr)) return false;
    out.domain = domain_attr;
    out.host_only = domain_attr == url.host && is_ip(url.host);
    if (!out.host_only && domain_attr.find('.') == std::string::npos && domain_attr != url.host) return false;
  } else {
    out.domain = url.host;
    out.host_only = true;
  }
  // §5.3 step 3: Max-Age wins over Expires.
  if (max_age) {
    if (*max_age <= 0) {
      expired = true;
      out.expires = 1;
    } else {
      out.expires = now + std::min<std::int64_t>(*max_age, INT64_C(400) * 86400);
    }
  } else if (expires) {
    out.expires = std::max<std::int64_t>(*expires, 1);
    if (*expires <= now) expired = true;
  }
  return true;
}

bool CookieJar::store(std::string_view set_cookie, const Url& url, std::int64_t now) {
  StoredCookie c;
  bool expired = false;
  if (!parse_set_cookie(set_cookie, url, now, c, expired)) return false;
  auto same = [&](const StoredCookie& o) { return o.name == c.name && o.domain == c.domain && o.path == c.path; };
  auto it = std::find_if(cookies_.begin(), cookies_.end(), same);
  if (expired) {
    if (it != cookies_.end()) cookies_.erase(it);
    return true;
  }
  if (it != cookies_.end()) {
    *it = c;  // §5.3 step 11: keeps the creation time (its place in the list)
  } else {
    cookies_.push_back(c);
  }
  return true;
}

std::string CookieJar::header_for(const Url& url, std::int64_t now) const {
  std::vector<const StoredCookie*> chosen;
  std::string_view path = url.path();
  for (const auto& c : cookies_) {
    if (c.secure) continue;
    if (c.expires != 0 && c.expires <= now) continue;
    if (c.host_only ? url.host != c.domain : !domain_match(url.host, c.domain)) continue;
    if (!path_match(path, c.path)) continue;
    chosen.push_back(&c);
  }
  std::stable_sort(chosen.begin(), chosen.end(),
                   [](const StoredCookie* a, const StoredCookie* b) { return a->path.size() > b->path.size(); });
  std::string out;
  for (const auto* c : chosen) {
    if (!out.empty()) out += "; ";
    out += c->name + "=" + c->value;
  }
  if (!literal_.empty()) {
    if (!out.empty()) out += "; ";
    out += literal_;
  }
  return out;
}

bool CookieJar::load_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool http_only = false;
  if (line.starts_with("#HttpOnly_")) {
    http_only = true;
    line.remove_prefix(10);
  } else if (line.empty() || line[0] == '#') {
    return false;
  }
  std::string_view f[7];
  for (int i = 0; i < 7; ++i) {
    std::size_t tab = line.find('\t');
    if (i < 6 && tab == std::string_view::npos) return false;
    f[i] = line.substr(0, i < 6 ? tab : std::string_view::npos);
    line = i < 6 ? line.substr(tab + 1) : std::string_view();
  }
  StoredCookie c;
  std::string_view domain = f[0];
  if (!domain.empty() && domain[0] == '.') domain.remove_prefix(1);
  if (domain.empty() || f[5].empty() || f[2].empty() || f[2][0] != '/') return false;
  // A domain is a host name or an address: anything else ('#' above all, which would make the
  // written line a comment or an #HttpOnly_ prefix) is not a cookie line.
  for (char ch : domain) {
    bool host = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '.' || ch == '_' || ch == ':' || ch == '[' || ch == ']';
    if (!host) return false;
  }
  // More than seven fields (a tab in the value) is not a cookie line: a tab would be sent
  // inside the Cookie header and break the file when written again.
  auto bad = [](std::string_view s) { return has_control(s) || s.find_first_of(";\t") != std::string_view::npos; };
  if (bad(f[5]) || bad(f[6])) return false;
  c.domain = lower(domain);
  c.host_only = f[1] != "TRUE";
  c.path = std::string(f[2]);
  c.secure = f[3] == "TRUE";
  if (!parse_int64(f[4], c.expires) || c.expires < 0) return false;
  c.name = std::string(f[5]);
  c.value = std::string(f[6]);
  c.http_only = http_only;
  auto same = [&](const StoredCookie& o) { return o.name == c.name && o.domain == c.domain && o.path == c.path; };
  auto it = std::find_if(cookies_.begin(), cookies_.end(), same);
  if (it != cookies_.end()) {
    *it = c;
  } else {
    cookies_.push_back(c);
  }
  return true;
}

bool CookieJar::load(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("cannot read cookie file '{}'", path);
    return false;
  }
  std::string line;
  while (std::getline(in, line)) load_line(line);
  return true;
}

bool CookieJar::save(const std::string& path, std::int64_t now, std::string& error) const {
  std::string text =
      "# Netscape HTTP Cookie File\n"
      "# Written by nuri get; curl -b reads it. Fields: domain, include subdomains, path, secure,\n"
      "# expires (Unix time, 0: session), name, value.\n\n";
  for (const auto& c : cookies_) {
    if (c.expires != 0 && c.expires <= now) continue;
    text += fmt::format("{}{}{}\t{}\t{}\t{}\t{}\t{}\t{}\n", c.http_only ? "#HttpOnly_" : "", c.host_only ? "" : ".",
                        c.domain, c.host_only ? "FALSE" : "TRUE", c.path, c.secure ? "TRUE" : "FALSE", c.expires,
                        c.name, c.value);
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    error = fmt::format("cannot write cookie file '{}'", path);
    return false;
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) error = fmt::format("error writing cookie file '{}'", path);
  return ok;
}

}  // namespace nuri::client
