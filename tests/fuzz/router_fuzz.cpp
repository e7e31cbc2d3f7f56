// libFuzzer target for app::Router (src/app/router.cpp). The input drives a small grammar: a
// few routes whose patterns are literal segments, {name}, {name:int} and {name:*} (plus, now and
// then, raw bytes as a pattern, to reach the pattern errors), then paths built from segments that
// sit on the type boundaries (digits, '-', int64 overflow, empty, %-escapes, %2F). Each path is
// matched and the answer checked against an independent matcher: a plain loop over the routes
// that were added, pattern against decoded segments, no tree. Promises checked (router.h):
//  - found: the route's method is the one asked for (or GET for HEAD), its pattern matches the
//    path, the params come in pattern order with the names of the pattern, each {x}/{x:int}
//    param is its decoded segment (non-empty; an int one parses as an int64 without '+'), and a
//    {x:*} param is the decoded rest of the path joined by '/';
//  - some added route matches the path with this method → found (backtracking misses nothing);
//  - method_not_allowed: some route matches the path, none with this method, Allow not empty;
//  - not_found: no added route matches the path, whatever the method.
#include <fuzzer/FuzzedDataProvider.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "app/router.h"

using nuri::app::Router;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "router_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

const char* const kMethods[] = {"GET", "HEAD", "POST", "PUT"};
const char* const kLiterals[] = {"a", "b", "items", "new", "1", "-1", "%41", "A", "x%2Fy", ""};
const char* const kNames[] = {"x", "y", "id", "rest"};
const char* const kPathSegments[] = {
    "a", "b", "items", "new", "A", "%41", "%61", "1", "-1", "+1", "01", "-", "",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "x%2Fy", "x/y",
    "%zz", "%", "%00", "%2f", "1.5", " "};

enum class Kind { literal, integer, string, rest };
struct Segment {
  Kind kind;
  std::string text;  // decoded literal, or parameter name
};
struct Route {
  std::string method;
  std::vector<Segment> segments;
};

// "%XX" → byte; false on a malformed escape (RFC 3986 §2.1).
bool decode(const std::string& in, std::string& out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return false;
    out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
    i += 2;
  }
  return true;
}

// The decoded segments of "/a/b/" ("a", "b", ""), or nullopt.
std::optional<std::vector<std::string>> segments_of(const std::string& path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string> out;
  std::string raw;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string decoded;
      if (!decode(raw, decoded)) return std::nullopt;
      out.push_back(decoded);
      raw.clear();
    } else {
      raw += path[i];
    }
  }
  return out;
}

bool is_int64(const std::string& s) {
  if (s.empty() || s[0] == '+') return false;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// Whether `route` matches `segs`; its params in pattern order when it does.
bool matches(const Route& route, const std::vector<std::string>& segs,
             std::vector<std::pair<std::string, std::string>>& params) {
  params.clear();
  std::size_t i = 0;
  for (const Segment& s : route.segments) {
    // {x:*} takes the rest after its slash, possibly empty: /files/{p:*} matches "/files/"
    // (p empty) but not "/files", which has no segment where the parameter stands.
    if (s.kind == Kind::rest) {
      if (i == segs.size()) return false;
      std::string rest;
      for (std::size_t k = i; k < segs.size(); ++k) rest += (k == i ? "" : "/") + segs[k];
      params.emplace_back(s.text, rest);
      return true;
    }
    if (i == segs.size()) return false;
    const std::string& seg = segs[i++];
    switch (s.kind) {
      case Kind::literal:
        if (seg != s.text) return false;
        break;
      case Kind::integer:
        if (!is_int64(seg)) return false;
        params.emplace_back(s.text, seg);
        break;
      case Kind::string:
        if (seg.empty()) return false;
        params.emplace_back(s.text, seg);
        break;
      case Kind::rest: break;
    }
  }
  return i == segs.size();
}

bool method_fits(const std::string& route_method, const std::string& asked) {
  return route_method == asked || (asked == "HEAD" && route_method == "GET");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Router router;
  std::vector<Route> routes;  // the ones add() took, indexed by id

  const int route_count = in.ConsumeIntegralInRange(1, 8);
  for (int r = 0; r < route_count; ++r) {
    std::string method = in.PickValueInArray(kMethods);
    std::string pattern;
    Route route{method, {}};
    if (in.ConsumeIntegralInRange(0, 15) == 0) {
      pattern = in.ConsumeRandomLengthString(32);  // anything: add() must refuse or cope
    } else {
      const int segment_count = in.ConsumeIntegralInRange(0, 4);
      for (int s = 0; s < segment_count; ++s) {
        pattern += '/';
        const std::string name = in.PickValueInArray(kNames);
        switch (in.ConsumeIntegralInRange(0, 5)) {
          case 0: pattern += "{" + name + "}"; break;
          case 1: pattern += "{" + name + ":int}"; break;
          case 2: pattern += "{" + name + ":*}"; break;
          default: pattern += in.PickValueInArray(kLiterals); break;
        }
      }
      if (pattern.empty()) pattern = "/";
    }
    std::string error;
    if (!router.add(method, pattern, routes.size(), error)) {
      require(!error.empty(), "a refused route says why");
      continue;
    }
    // add() took it: record its meaning, parsed here independently of the router.
    require(!pattern.empty() && pattern[0] == '/', "accepted patterns start with '/'");
    std::size_t begin = 1;
    while (true) {
      const std::size_t slash = pattern.find('/', begin);
      const std::string raw = pattern.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin);
      Segment seg{Kind::literal, {}};
      if (!raw.empty() && raw[0] == '{') {
        const std::string inner = raw.substr(1, raw.size() - 2);
        const std::size_t colon = inner.find(':');
        seg.text = inner.substr(0, colon);
        const std::string type = colon == std::string::npos ? "str" : inner.substr(colon + 1);
        seg.kind = type == "int" ? Kind::integer : type == "*" ? Kind::rest : Kind::string;
        require(type == "int" || type == "*" || type == "str", "accepted parameter types");
      } else {
        require(decode(raw, seg.text), "accepted literals decode");
      }
      route.segments.push_back(seg);
      if (slash == std::string::npos) break;
      begin = slash + 1;
    }
    for (std::size_t k = 0; k + 1 < route.segments.size(); ++k) {
      require(route.segments[k].kind != Kind::rest, "{x:*} only last");
    }
    routes.push_back(route);
  }
  require(router.size() == routes.size(), "size() counts the routes added");

  while (in.remaining_bytes() > 0) {
    const std::string method = in.PickValueInArray(kMethods);
    std::string path;
    if (in.ConsumeIntegralInRange(0, 7) == 0) {
      path = in.ConsumeRandomLengthString(48);
    } else {
      const int segment_count = in.ConsumeIntegralInRange(0, 5);
      for (int s = 0; s < segment_count; ++s) path += std::string("/") + in.PickValueInArray(kPathSegments);
      if (path.empty()) path = "/";
    }
    const Router::Match m = router.match(method, path);

    const auto segs = segments_of(path);
    bool any_route = false;
    bool any_with_method = false;
    std::vector<std::pair<std::string, std::string>> params;
    if (segs) {
      for (const Route& r : routes) {
        if (!matches(r, *segs, params)) continue;
        any_route = true;
        any_with_method = any_with_method || method_fits(r.method, method);
      }
    }
    switch (m.outcome) {
      case Router::Match::Outcome::found: {
        require(m.id < routes.size(), "found names an added route");
        const Route& r = routes[m.id];
        require(method_fits(r.method, method), "found route has the method (GET for HEAD)");
        require(segs.has_value() && matches(r, *segs, params), "found route matches the path");
        require(m.params.size() == params.size(), "one param per pattern parameter");
        for (std::size_t k = 0; k < params.size(); ++k) {
          require(m.params[k].name == params[k].first, "param names in pattern order");
          require(m.params[k].value == params[k].second, "params reconstruct the segments");
        }
        for (std::size_t k = 0, p = 0; k < r.segments.size(); ++k) {
          if (r.segments[k].kind == Kind::literal) continue;
          if (r.segments[k].kind == Kind::integer) require(is_int64(m.params[p].value), "int param parses");
          ++p;
        }
        break;
      }
      case Router::Match::Outcome::method_not_allowed:
        require(any_route && !any_with_method, "405 only when the path matches with other methods");
        require(!m.allow.empty(), "405 names the allowed methods");
        break;
      case Router::Match::Outcome::not_found:
        require(!any_route, "404 only when no route matches the path");
        break;
    }
    require(m.outcome == Router::Match::Outcome::found || !any_with_method,
            "a route that matches path and method is found");
  }
  return 0;
}
