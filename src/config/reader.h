#pragma once
// Internal to src/config: typed, error-collecting reads from a toml++ tree. Every problem is
// recorded with the position of the node (or key) it concerns and reading goes on, so one run
// of `nuri check-config` reports everything at once.
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "net/cidr.h"

namespace nuri::config::detail {

/// "a string", "an integer", ... for "must be X, not Y" messages.
std::string_view type_name(toml::node_type type);

/// `text` on one line: control characters shown as \n, \t, \xNN (error messages quote keys and
/// values from the file, and toml++ quotes the character it stopped at).
std::string one_line(std::string_view text);

/// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

class Reader {
 public:
  /// `source` names the config in messages; relative paths in it are resolved against `base_dir`.
  Reader(std::string source, std::filesystem::path base_dir);

  /// Records "SOURCE:LINE:COL: message" at the start of `where`.
  void error(const toml::source_region& where, std::string message);
  void error(const toml::node& node, std::string message) { error(node.source(), std::move(message)); }
  /// An error inside another file the config names (an htpasswd file): "FILE:LINE:1: message",
  /// sorted with the config's errors at the position of `anchor`.
  void error_in_file(const std::string& file, std::size_t line, const toml::source_region& anchor, std::string message);

  /// Every error so far, sorted by position in the config, each one line.
  std::vector<std::string> take_errors();
  std::size_t error_count() const { return errors_.size(); }

  const std::string& source() const { return source_; }
  /// `text` made absolute against the config's directory, lexically normalized.
  std::string resolve(std::string_view text) const;

  /// Reports every key of `table` not in `known` (with the closest known key if it is near).
  void check_keys(const toml::table& table, std::initializer_list<std::string_view> known, std::string_view where);

  // Typed reads of `table[key]`: absent → false and `out` untouched; wrong type or out of range
  // → an error, false. True when `out` was set.
  bool read_bool(const toml::table& table, std::string_view key, bool& out);
  bool read_string(const toml::table& table, std::string_view key, std::string& out);
  bool read_int(const toml::table& table, std::string_view key, std::int64_t min, std::int64_t max, std::int64_t& out);
  /// An integer or float within [min, max] (`min_exclusive`: > min).
  bool read_number(const toml::table& table, std::string_view key, double min, bool min_exclusive, double max, double& out);
  /// Bytes: a non-negative integer or a string "512", "64K", "1M", "2G" (powers of 1024).
  bool read_size(const toml::table& table, std::string_view key, std::uint64_t min, std::uint64_t max, std::uint64_t& out);
  /// An array of strings; `nodes` (optional) receives each element's node for later messages.
  bool read_strings(const toml::table& table, std::string_view key, std::vector<std::string>& out,
                    std::vector<const toml::node*>* nodes = nullptr);
  /// A table (or a non-empty array of tables, `shown` naming it in messages: "host.location"),
  /// else an error.
  const toml::table* table_at(const toml::table& table, std::string_view key);
  const toml::array* tables_at(const toml::table& table, std::string_view key, std::string_view shown = {});

  /// `allow`/`deny` (allow entries first, then deny entries) or the ordered `access` list
  /// ("allow RANGE" / "deny RANGE"), never both. True when one of them was present (even empty).
  bool read_access(const toml::table& table, std::vector<net::AccessRule>& out);

  /// A directory the server will serve from: resolved, must exist and be a directory.
  bool read_root(const toml::table& table, std::string_view key, std::string& out);

 private:
  struct Error {
    std::uint64_t line;
    std::uint64_t column;
    std::size_t order;
    std::string text;
  };
  bool wrong_type(const toml::node& node, std::string_view key, std::string_view expected);

  std::string source_;
  std::filesystem::path base_dir_;
  std::vector<Error> errors_;
};

}  // namespace nuri::config::detail
