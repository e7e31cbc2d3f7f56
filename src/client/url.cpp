#include "client/url.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <cctype>

#include "http/chars.h"

namespace nuri::client {

namespace {

namespace chars = http::chars;

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Percent-encodes what a request-target cannot carry; a '#' ends it (the fragment stays local).
std::string wire_target(std::string_view text) {
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == '#') break;
    bool bad = c <= 0x20 || c >= 0x7f || std::string_view("\"<>\\^`{|}").find(ch) != std::string_view::npos;
    if (bad) {
      out += fmt::format("%{:02X}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

// Where the scheme of a reference ends (the ':'), or npos when it has none (RFC 3986 §3.1).
std::size_t scheme_end(std::string_view s) {
  if (s.empty() || !chars::is(s[0], chars::kAlpha)) return std::string_view::npos;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == ':') return i;
    if (!chars::is(s[i], chars::kScheme)) return std::string_view::npos;
  }
  return std::string_view::npos;
}

}  // namespace

std::string Url::authority() const {
  std::string h = ipv6 ? "[" + host + "]" : host;
  return port == 80 ? h : fmt::format("{}:{}", h, port);
}

std::string Url::to_string() const { return scheme + "://" + authority() + target; }

std::string_view Url::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::optional<Url> parse_url(std::string_view text, UrlError& kind, std::string& error) {
  kind = UrlError::malformed;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') {
      error = "the URL holds a line break or NUL byte";
      return std::nullopt;
    }
  }
  Url url;
  std::string_view rest = text;
  std::size_t colon = scheme_end(text);
  if (colon != std::string_view::npos && text.substr(colon, 3) == "://") {
    std::string scheme;
    for (char c : text.substr(0, colon)) scheme += lower(c);
    if (scheme != "http") {
      kind = UrlError::unsupported;
      error = scheme == "https" ? "https:// is not supported (nuri get speaks plain HTTP/1.1 only)"
                                : fmt::format("{}:// is not supported (http:// only)", scheme);
      return std::nullopt;
    }
    rest = text.substr(colon + 3);
  } else if (text.find("://") != std::string_view::npos) {
    error = "malformed scheme";
    return std::nullopt;
  }
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    error = "user names and passwords in the URL are not supported (send an Authorization header with -H)";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "IPv6 address without its closing ']'";
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    unsigned char buf[16];
    if (inet_pton(AF_INET6, url.host.c_str(), buf) != 1) {
      error = fmt::format("'{}' is not an IPv6 address", url.host);
      return std::nullopt;
    }
    url.ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        error = "unexpected bytes after the IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    std::size_t c = authority.rfind(':');
    std::string_view host = authority.substr(0, c);
    if (c != std::string_view::npos) port_text = authority.substr(c + 1);
    for (char ch : host) {
      if (!chars::is(ch, chars::kRegName)) {
        error = fmt::format("the host name '{}' holds a byte a host name cannot have", host);
        return std::nullopt;
      }
      url.host += lower(ch);
    }
  }
  if (url.host.empty()) {
    error = "no host in the URL";
    return std::nullopt;
  }
  for (char c : url.host) {
    if (!url.ipv6 && c != '.' && c != '-' && !chars::is(c, chars::kAlpha) && !chars::is(c, chars::kDigit) && c != '_') {
      error = fmt::format("the host name '{}' holds a byte a host name cannot have", url.host);
      return std::nullopt;
    }
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    for (char ch : port_text) {
      if (!chars::is(ch, chars::kDigit) || port > 65535) {
        error = fmt::format("port '{}' is not a number from 1 to 65535", port_text);
        return std::nullopt;
      }
      port = port * 10 + static_cast<unsigned>(ch - '0');
    }
    if (port == 0 || port > 65535) {
      error = fmt::format("port '{}' is not a number from 1 to 65535", port_text);
      return std::nullopt;
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  url.target = wire_target(target);
  if (url.target.empty() || url.target[0] != '/') url.target = "/" + url.target;
  kind = UrlError::none;
  return url;
}

std::string remove_dot_segments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      std::size_t slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      std::size_t next = in.find('/', in[0] == '/' ? 1 : 0);
      if (next == std::string_view::npos) next = in.size();
      out += in.substr(0, next);
      in.remove_prefix(next);
    }
  }
  return out;
}

std::optional<Url> resolve_reference(const Url& base, std::string_view ref, UrlError& kind, std::string& error) {
  kind = UrlError::malformed;
  // Surrounding whitespace of a field value is already trimmed; a fragment never travels.
  ref = ref.substr(0, ref.find('#'));
  if (scheme_end(ref) != std::string_view::npos) {
    std::size_t c = scheme_end(ref);
    if (ref.substr(c, 3) != "://") {
      std::string scheme(ref.substr(0, c));
      kind = UrlError::unsupported;
      error = fmt::format("redirect to '{}:' which is not http://", scheme);
      return std::nullopt;
    }
    return parse_url(ref, kind, error);
  }
  if (ref.starts_with("//")) return parse_url(base.scheme + ":" + std::string(ref), kind, error);
  Url url = base;
  std::string_view path = ref.substr(0, ref.find('?'));
  std::string_view query = ref.find('?') == std::string_view::npos ? std::string_view() : ref.substr(ref.find('?'));
  std::string merged;
  if (path.empty()) {
    merged = std::string(base.path());
    if (query.empty()) query = std::string_view(base.target).substr(base.path().size());
  } else if (path[0] == '/') {
    merged = remove_dot_segments(path);
  } else {
    std::string_view dir = base.path().substr(0, base.path().rfind('/') + 1);
    merged = remove_dot_segments(std::string(dir) + std::string(path));
  }
  if (merged.empty() || merged[0] != '/') merged = "/" + merged;
  std::string target = merged + std::string(query);
  // Encode through the same rules as a typed URL.
  auto encoded = parse_url(base.scheme + "://" + base.authority() + target, kind, error);
  return encoded;
}

}  // namespace nuri::client
