#include "app/router.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "http/chars.h"
#include "http/percent.h"

namespace nuri::app {

using Methods = std::vector<std::pair<std::string, std::size_t>>;  // in the order added

struct Router::Node {
  struct Param {
    std::string name;
    std::unique_ptr<Node> next;
  };
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;  // by decoded text
  Param integer;
  Param string;
  std::string rest_name;  // a {name:*} ends here
  Methods rest_methods;
  Methods methods;        // routes ending exactly here
};

namespace {

enum class Kind { literal, integer, string, rest };

struct PatternSegment {
  Kind kind;
  std::string text;  // the decoded literal, or the parameter's name
};

bool is_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool is_integer(std::string_view s) {
  if (s.empty() || s[0] == '+') return false;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

// "/a/b/" → "a", "b", "" (decoded). nullopt: not starting with '/', or a malformed escape.
std::optional<std::vector<std::string>> split_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string> out;
  std::size_t begin = 1;
  for (;;) {
    std::size_t slash = path.find('/', begin);
    std::string_view raw = path.substr(begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin);
    std::string decoded;
    if (!http::percent_decode_append(raw, decoded)) return std::nullopt;
    out.push_back(std::move(decoded));
    if (slash == std::string_view::npos) return out;
    begin = slash + 1;
  }
}

std::optional<std::vector<PatternSegment>> parse_pattern(std::string_view pattern, std::string& error) {
  if (pattern.empty() || pattern[0] != '/') {
    error = fmt::format("route \"{}\": a pattern starts with '/'", pattern);
    return std::nullopt;
  }
  std::vector<PatternSegment> out;
  std::vector<std::string_view> names;
  std::size_t begin = 1;
  for (;;) {
    std::size_t slash = pattern.find('/', begin);
    std::string_view raw = pattern.substr(begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin);
    if (!out.empty() && out.back().kind == Kind::rest) {
      error = fmt::format("route \"{}\": {{{}:*}} takes the rest of the path, so it must come last", pattern,
                          out.back().text);
      return std::nullopt;
    }
    if (!raw.empty() && raw.front() == '{') {
      if (raw.back() != '}') {
        error = fmt::format("route \"{}\": \"{}\" opens a parameter without closing it", pattern, raw);
        return std::nullopt;
      }
      std::string_view inner = raw.substr(1, raw.size() - 2);
      std::size_t colon = inner.find(':');
      std::string_view name = inner.substr(0, colon);
      std::string_view type = colon == std::string_view::npos ? "str" : inner.substr(colon + 1);
      if (!is_name(name)) {
        error = fmt::format("route \"{}\": \"{}\" is not a parameter name (letters, digits, '_')", pattern, name);
        return std::nullopt;
      }
      for (std::string_view seen : names) {
        if (seen == name) {
          error = fmt::format("route \"{}\": parameter \"{}\" appears twice", pattern, name);
          return std::nullopt;
        }
      }
      names.push_back(name);
      Kind kind;
      if (type == "int") {
        kind = Kind::integer;
      } else if (type == "str") {
        kind = Kind::string;
      } else if (type == "*") {
        kind = Kind::rest;
      } else {
        error = fmt::format("route \"{}\": unknown parameter type \"{}\" (int, str or *)", pattern, type);
        return std::nullopt;
      }
      out.push_back({kind, std::string(name)});
    } else {
      if (raw.find_first_of("{}") != std::string_view::npos) {
        error = fmt::format("route \"{}\": a parameter takes a whole segment, like /items/{{id:int}}", pattern);
        return std::nullopt;
      }
      std::string decoded;
      if (!http::percent_decode_append(raw, decoded)) {
        error = fmt::format("route \"{}\": malformed %-escape in \"{}\"", pattern, raw);
        return std::nullopt;
      }
      out.push_back({Kind::literal, std::move(decoded)});
    }
    if (slash == std::string_view::npos) return out;
    begin = slash + 1;
  }
}

const std::size_t* pick(const Methods& methods, std::string_view method) {
  for (const auto& entry : methods) {
    if (entry.first == method) return &entry.second;
  }
  if (method == "HEAD") return pick(methods, "GET");
  return nullptr;
}

std::string allow_of(const Methods& methods) {
  bool has_head = false;
  for (const auto& entry : methods) has_head = has_head || entry.first == "HEAD";
  std::string out;
  for (const auto& entry : methods) {
    out += (out.empty() ? "" : ", ") + entry.first;
    if (entry.first == "GET" && !has_head) out += ", HEAD";  // a GET route answers HEAD too
  }
  return out;
}

struct Search {
  std::string_view method;
  const std::vector<std::string>& segments;
  std::vector<RouteParam> params;
  const Methods* first_path_match = nullptr;  // for 405: the most specific route of the path
  Router::Match& out;
};

bool walk(const Router::Node& node, std::size_t i, Search& s);

bool try_param(const Router::Node::Param& param, std::size_t i, Search& s) {
  s.params.push_back({param.name, s.segments[i]});
  if (walk(*param.next, i + 1, s)) return true;
  s.params.pop_back();
  return false;
}

bool walk(const Router::Node& node, std::size_t i, Search& s) {
  if (i == s.segments.size()) {
    if (node.methods.empty()) return false;
    if (const std::size_t* id = pick(node.methods, s.method)) {
      s.out.id = *id;
      return true;
    }
    if (!s.first_path_match) s.first_path_match = &node.methods;
    return false;
  }
  const std::string& segment = s.segments[i];
  if (auto it = node.literals.find(segment); it != node.literals.end() && walk(*it->second, i + 1, s)) return true;
  if (node.integer.next && is_integer(segment) && try_param(node.integer, i, s)) return true;
  if (node.string.next && !segment.empty() && try_param(node.string, i, s)) return true;
  if (!node.rest_methods.empty()) {
    if (const std::size_t* id = pick(node.rest_methods, s.method)) {
      std::string rest;
      for (std::size_t k = i; k < s.segments.size(); ++k) rest += (k == i ? "" : "/") + s.segments[k];
      s.params.push_back({node.rest_name, std::move(rest)});
      s.out.id = *id;
      return true;
    }
    if (!s.first_path_match) s.first_path_match = &node.rest_methods;
  }
  return false;
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

bool Router::add(std::string_view method, std::string_view pattern, std::size_t id, std::string& error) {
  if (!http::chars::is_token(method)) {
    error = fmt::format("route \"{}\": \"{}\" is not a method name", pattern, method);
    return false;
  }
  auto segments = parse_pattern(pattern, error);
  if (!segments) return false;
  Node* node = root_.get();
  auto claim = [&](Node::Param& param, const std::string& name, const char* type) {
    if (!param.next) {
      param.name = name;
      param.next = std::make_unique<Node>();
    } else if (param.name != name) {
      error = fmt::format("route \"{}\": another route names this {} parameter \"{}\", not \"{}\"", pattern, type,
                          param.name, name);
      return false;
    }
    node = param.next.get();
    return true;
  };
  Methods* methods = nullptr;
  for (const PatternSegment& segment : *segments) {
    switch (segment.kind) {
      case Kind::literal: {
        auto& next = node->literals[segment.text];
        if (!next) next = std::make_unique<Node>();
        node = next.get();
        break;
      }
      case Kind::integer:
        if (!claim(node->integer, segment.text, "int")) return false;
        break;
      case Kind::string:
        if (!claim(node->string, segment.text, "str")) return false;
        break;
      case Kind::rest:
        if (!node->rest_methods.empty() && node->rest_name != segment.text) {
          error = fmt::format("route \"{}\": another route names this * parameter \"{}\", not \"{}\"", pattern,
                              node->rest_name, segment.text);
          return false;
        }
        node->rest_name = segment.text;
        methods = &node->rest_methods;
        break;
    }
  }
  if (!methods) methods = &node->methods;
  std::string name(method);
  for (const auto& entry : *methods) {
    if (entry.first == name) {
      error = fmt::format("route {} \"{}\" is already defined", name, pattern);
      return false;
    }
  }
  methods->emplace_back(std::move(name), id);
  ++routes_;
  return true;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  auto segments = split_path(path);
  if (!segments) return result;
  Search search{method, *segments, {}, nullptr, result};
  if (walk(*root_, 0, search)) {
    result.outcome = Match::Outcome::found;
    result.params = std::move(search.params);
  } else if (search.first_path_match) {
    result.outcome = Match::Outcome::method_not_allowed;
    result.allow = allow_of(*search.first_path_match);
  }
  return result;
}

}  // namespace nuri::app
