#include "config/reader.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

namespace nuri::config::detail {

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

Reader::Reader(std::string source, std::filesystem::path base_dir)
    : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

void Reader::error(const toml::source_region& where, std::string message) {
  errors_.push_back(Error{where.begin.line, where.begin.column, errors_.size(),
                          one_line(fmt::format("{}:{}:{}: {}", source_, where.begin.line, where.begin.column, message))});
}

void Reader::error_in_file(const std::string& file, std::size_t line, const toml::source_region& anchor,
                           std::string message) {
  errors_.push_back(Error{anchor.begin.line, anchor.begin.column, errors_.size(),
                          one_line(fmt::format("{}:{}:1: {} (user_file named at {}:{}:{})", file, line, message,
                                               source_, anchor.begin.line, anchor.begin.column))});
}

std::vector<std::string> Reader::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
    if (a.line != b.line) return a.line < b.line;
    if (a.column != b.column) return a.column < b.column;
    return a.order < b.order;
  });
  std::vector<std::string> out;
  out.reserve(errors_.size());
  for (Error& e : errors_) out.push_back(std::move(e.text));
  errors_.clear();
  return out;
}

std::string Reader::resolve(std::string_view text) const {
  std::filesystem::path p{std::string(text)};
  if (p.is_relative()) p = base_dir_ / p;
  std::string out = p.lexically_normal().string();
  // "/srv/www/" and "/srv/www" are the same root; keep the form without the slash.
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

void Reader::check_keys(const toml::table& table, std::initializer_list<std::string_view> known, std::string_view where) {
  for (auto&& [key, value] : table) {
    const std::string_view name = key.str();
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string_view best;
    std::size_t best_distance = 3;
    for (const std::string_view candidate : known) {
      const std::size_t d = edit_distance(name, candidate);
      if (d < best_distance) {
        best = candidate;
        best_distance = d;
      }
    }
    std::string message = fmt::format("unknown key \"{}\" {}", name, where);
    if (!best.empty()) message += fmt::format(" (did you mean \"{}\"?)", best);
    error(key.source(), std::move(message));
  }
}

bool Reader::wrong_type(const toml::node& node, std::string_view key, std::string_view expected) {
  error(node, fmt::format("\"{}\" must be {}, not {}", key, expected, type_name(node.type())));
  return false;
}

bool Reader::read_bool(const toml::table& table, std::string_view key, bool& out) {
  const toml::node* node = table.get(key);
  if (!node) return false;
  if (!node->is_boolean()) return wrong_type(*node, key, "true or false");
  out = node->as_boolean()->get();
  return true;
}

bool Reader::read_string(const toml::table& table, std::string_view key, std::string& out) {
  const toml::node* node = table.get(key);
  if (!node) return false;
  if (!node->is_string()) return wrong_type(*node, key, "a string");
  out = node->as_string()->get();
  return true;
}

bool Reader::read_int(const toml::table& table, std::string_view key, std::int64_t min, std::int64_t max, std::int64_t& out) {
  const toml::node* node = table.get(key);
  if (!node) return false;
  if (!node->is_integer()) return wrong_type(*node, key, "an integer");
  const std::int64_t value = node->as_integer()->get();
  if (value < min || value > max) {
    error(*node, fmt::format("\"{}\" must be between {} and {}, not {}", key, min, max, value));
    return false;
  }
  out = value;
  return true;
}

bool Reader::read_number(const toml::table& table, std::string_view key, double min, bool min_exclusive, double max,
                         double& out) {
  const toml::node* node = table.get(key);
  if (!node) return false;
  double value = 0;
  if (node->is_integer()) {
    value = static_cast<double>(node->as_integer()->get());
  } else if (node->is_floating_point()) {
    value = node->as_floating_point()->get();
  } else {
    return wrong_type(*node, key, "a number");
  }
  if (!std::isfinite(value) || (min_exclusive ? value <= min : value < min) || value > max) {
    error(*node, fmt::format("\"{}\" must be {} {} and at most {}, not {}", key, min_exclusive ? "greater than" : "at least",
                             min, max, value));
    return false;
  }
  out = value;
  return true;
}

bool Reader::read_size(const toml::table& table, std::string_view key, std::uint64_t min, std::uint64_t max,
                       std::uint64_t& out) {
  const toml::node* node = table.get(key);
  if (!node) return false;
  std::uint64_t value = 0;
  if (node->is_integer()) {
    const std::int64_t v = node->as_integer()->get();
    if (v < 0) {
      error(*node, fmt::format("\"{}\" must not be negative", key));
      return false;
    }
    value = static_cast<std::uint64_t>(v);
  } else if (node->is_string()) {
    const std::string& text = node->as_string()->get();
    std::size_t i = 0;
    bool overflow = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text[i] - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) overflow = true;
      value = value * 10 + digit;
      ++i;
    }
    std::uint64_t unit = 1;
    if (i + 1 == text.size()) {
      switch (text[i]) {
        case 'K': case 'k': unit = 1ull << 10; ++i; break;
        case 'M': case 'm': unit = 1ull << 20; ++i; break;
        case 'G': case 'g': unit = 1ull << 30; ++i; break;
        default: break;
      }
    }
    if (i == 0 || i != text.size()) {
      error(*node, fmt::format("\"{}\": \"{}\" is not a size (bytes, or a number followed by K, M or G)", key, text));
      return false;
    }
    if (overflow || value > std::numeric_limits<std::uint64_t>::max() / unit) {
      error(*node, fmt::format("\"{}\": \"{}\" is too large", key, text));
      return false;
    }
    value *= unit;
  } else {
    return wrong_type(*node, key, "a size (an integer, or a string like \"64K\")");
  }
  if (value < min || value > max) {
    error(*node, fmt::format("\"{}\" must be between {} and {} bytes", key, min, max));
    return false;
  }
  out = value;
  return true;
}

bool Reader::read_strings(const toml::table& table, std::string_view key, std::vector<std::string>& out,
                          std::vector<const toml::node*>* nodes) {
  const toml::node* node = table.get(key);
  if (!node) return false;
  if (!node->is_array()) return wrong_type(*node, key, "an array of strings");
  std::vector<std::string> values;
  bool ok = true;
  for (const toml::node& element : *node->as_array()) {
    if (!element.is_string()) {
      error(element, fmt::format("\"{}\" must hold strings, not {}", key, type_name(element.type())));
      ok = false;
      continue;
    }
    values.push_back(element.as_string()->get());
    if (nodes) nodes->push_back(&element);
  }
  if (ok) out = std::move(values);
  return ok;
}

const toml::table* Reader::table_at(const toml::table& table, std::string_view key) {
  const toml::node* node = table.get(key);
  if (!node) return nullptr;
  if (!node->is_table()) {
    wrong_type(*node, key, fmt::format("a table ([{}] or {} = {{ ... }})", key, key));
    return nullptr;
  }
  return node->as_table();
}

const toml::array* Reader::tables_at(const toml::table& table, std::string_view key, std::string_view shown) {
  const toml::node* node = table.get(key);
  if (!node) return nullptr;
  if (!node->is_array_of_tables() || node->as_array()->empty()) {
    const bool empty = node->is_array() && node->as_array()->empty();
    error(*node, fmt::format("\"{}\" must be an array of tables ([[{}]]), not {}", key, shown.empty() ? key : shown,
                             empty ? "an empty array" : type_name(node->type())));
    return nullptr;
  }
  return node->as_array();
}

bool Reader::read_access(const toml::table& table, std::vector<net::AccessRule>& out) {
  const toml::node* access = table.get("access");
  const toml::node* allow = table.get("allow");
  const toml::node* deny = table.get("deny");
  if (!access && !allow && !deny) return false;
  out.clear();
  auto add = [&](const toml::node& element, bool is_allow, std::string_view text) {
    std::string why;
    auto range = net::Cidr::parse(text, why);
    if (!range) {
      error(element, fmt::format("bad address range \"{}\": {}", text, why));
      return;
    }
    out.push_back(net::AccessRule{is_allow, *range});
  };
  if (access) {
    if (allow || deny) {
      error(*access, "use either \"access\" (ordered rules) or \"allow\"/\"deny\", not both");
      return true;
    }
    std::vector<const toml::node*> nodes;
    std::vector<std::string> rules;
    if (!read_strings(table, "access", rules, &nodes)) return true;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const std::string& rule = rules[i];
      const auto space = rule.find(' ');
      const std::string verb = rule.substr(0, space);
      std::string_view range = space == std::string::npos ? std::string_view() : std::string_view(rule).substr(space + 1);
      while (!range.empty() && range.front() == ' ') range.remove_prefix(1);
      if ((verb != "allow" && verb != "deny") || range.empty()) {
        error(*nodes[i], fmt::format("access rule \"{}\" must be \"allow RANGE\" or \"deny RANGE\"", rule));
        continue;
      }
      add(*nodes[i], verb == "allow", range);
    }
    return true;
  }
  for (const auto& [key, is_allow] : {std::pair{std::string_view("allow"), true}, std::pair{std::string_view("deny"), false}}) {
    std::vector<const toml::node*> nodes;
    std::vector<std::string> ranges;
    if (!read_strings(table, key, ranges, &nodes)) continue;
    for (std::size_t i = 0; i < ranges.size(); ++i) add(*nodes[i], is_allow, ranges[i]);
  }
  return true;
}

bool Reader::read_root(const toml::table& table, std::string_view key, std::string& out) {
  std::string text;
  if (!read_string(table, key, text)) return false;
  const toml::node& node = *table.get(key);
  if (text.empty()) {
    error(node, fmt::format("\"{}\" is empty (leave it out for the built-in site)", key));
    return false;
  }
  const std::string path = resolve(text);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error(node, fmt::format("{} \"{}\" cannot be used: {}", key, path, std::strerror(errno)));
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    error(node, fmt::format("{} \"{}\" is not a directory", key, path));
    return false;
  }
  out = path;
  return true;
}

}  // namespace nuri::config::detail
