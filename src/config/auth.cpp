// [host.location.auth]: HTTP Basic authentication (RFC 7617) with crypt(3) hashes from an
// htpasswd-style file and/or an inline table.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/auth.h"

namespace nuri::config::detail {

namespace {

// crypt(3)'s base-64 alphabet.
bool crypt_chars(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// "$5$[rounds=N$]salt$hash" / "$6$...": salt up to 16 characters, hash 43 / 86 characters.
std::optional<std::string> check_sha_crypt(std::string_view hash, std::size_t hash_length) {
  auto parts = split(hash, '$');  // "", "6", [rounds=N,] salt, hash
  std::size_t i = 2;
  if (parts.size() == 5) {
    const std::string_view rounds = parts[2];
    if (rounds.substr(0, 7) != "rounds=" || rounds.size() == 7 ||
        rounds.substr(7).find_first_not_of("0123456789") != std::string_view::npos) {
      return "malformed rounds= field";
    }
    i = 3;
  } else if (parts.size() != 4) {
    return "expected $N$salt$hash";
  }
  if (parts[i].size() > 16 || !crypt_chars(parts[i])) return "malformed salt";
  if (parts[i + 1].size() != hash_length || !crypt_chars(parts[i + 1])) {
    return fmt::format("the hash part must be {} characters of [./0-9A-Za-z]", hash_length);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_password_hash(std::string_view hash) {
  if (hash.starts_with("$6$")) return check_sha_crypt(hash, 86);
  if (hash.starts_with("$5$")) return check_sha_crypt(hash, 43);
  if (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
    // "$2y$NN$" + 22 characters of salt + 31 of hash.
    const std::string_view rest = hash.substr(4);
    if (rest.size() != 3 + 53 || rest[2] != '$' || rest[0] < '0' || rest[0] > '3' || rest[1] < '0' || rest[1] > '9' ||
        !crypt_chars(rest.substr(3))) {
      return "malformed bcrypt hash (expected $2y$NN$ and 53 characters)";
    }
    const int cost = (rest[0] - '0') * 10 + (rest[1] - '0');
    if (cost < 4 || cost > 31) return fmt::format("bcrypt cost {} out of range 04..31", cost);
    return std::nullopt;
  }
  if (hash.starts_with("$y$")) {
    auto parts = split(hash, '$');  // "", "y", params, salt, hash
    if (parts.size() != 5 || parts[2].empty() || parts[3].empty() || !crypt_chars(parts[2]) || !crypt_chars(parts[3]) ||
        parts[4].size() != 43 || !crypt_chars(parts[4])) {
      return "malformed yescrypt hash (expected $y$params$salt$ and 43 characters)";
    }
    return std::nullopt;
  }
  if (hash.starts_with("$1$") || hash.starts_with("$apr1$")) {
    return "MD5-based hashes ($1$, $apr1$) are too weak; use SHA-512 ($6$), bcrypt ($2y$) or yescrypt ($y$)";
  }
  return "not a supported crypt(3) hash (SHA-512 $6$, SHA-256 $5$, bcrypt $2y$/$2b$/$2a$ or yescrypt $y$)";
}

bool valid_user_name(std::string_view user) {
  if (user.empty()) return false;
  for (const char c : user) {
    // RFC 7617 §2: the user-id cannot contain a colon; no controls, no spaces (htpasswd lines).
    if (c == ':' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

void read_auth(Reader& r, const toml::table& table, BasicAuth& out) {
  const std::size_t errors_before = r.error_count();
  r.check_keys(table, {"realm", "user_file", "users"}, "in [host.location.auth]");
  if (r.read_string(table, "realm", out.realm)) {
    bool ok = !out.realm.empty();
    for (const char c : out.realm) {
      // It goes into WWW-Authenticate: Basic realm="..." (a quoted-string).
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ok = false;
    }
    if (!ok) r.error(*table.get("realm"), "\"realm\" must be non-empty, without quotes, backslashes or control characters");
  }

  std::string user_file;
  if (r.read_string(table, "user_file", user_file)) {
    const toml::node& node = *table.get("user_file");
    const std::string path = r.resolve(user_file);
    // Only a regular file of sane size: "/dev/zero" or a FIFO would hang or eat all memory.
    constexpr std::uintmax_t kMaxUserFile = 1 << 20;
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    const bool regular = !ec && std::filesystem::is_regular_file(status);
    const std::uintmax_t size = regular ? std::filesystem::file_size(path, ec) : 0;
    std::ifstream in;
    if (regular && size <= kMaxUserFile) in.open(path);
    if (user_file.empty() || !regular || size > kMaxUserFile || !in) {
      std::string why = user_file.empty()          ? "empty path"
                        : ec                        ? ec.message()
                        : !regular                  ? "not a regular file"
                        : size > kMaxUserFile       ? "larger than 1 MiB"
                                                    : std::strerror(errno);
      r.error(node, fmt::format("cannot read auth user_file \"{}\": {}", path, why));
    } else {
      std::string line;
      std::size_t number = 0;
      while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
          r.error_in_file(path, number, node.source(), "expected \"user:hash\"");
          continue;
        }
        const std::string user = line.substr(0, colon);
        // htpasswd may append ":comment" fields after the hash; ignore them.
        std::string hash = line.substr(colon + 1);
        hash = hash.substr(0, hash.find(':'));
        if (!valid_user_name(user)) {
          r.error_in_file(path, number, node.source(), fmt::format("bad user name \"{}\"", user));
          continue;
        }
        if (auto why = check_password_hash(hash)) {
          r.error_in_file(path, number, node.source(), fmt::format("user \"{}\": {}", user, *why));
          continue;
        }
        if (!out.users.emplace(user, hash).second) {
          r.error_in_file(path, number, node.source(), fmt::format("user \"{}\" appears twice", user));
        }
      }
      if (in.bad()) r.error(node, fmt::format("cannot read auth user_file \"{}\": {}", path, std::strerror(errno)));
    }
  }

  if (const toml::table* users = r.table_at(table, "users")) {
    for (auto&& [key, value] : *users) {
      const std::string user(key.str());
      if (!valid_user_name(user)) {
        r.error(key.source(), fmt::format("bad user name \"{}\" (no colon, spaces or control characters)", user));
        continue;
      }
      if (!value.is_string()) {
        r.error(value, fmt::format("the password hash of \"{}\" must be a string, not {}", user, type_name(value.type())));
        continue;
      }
      const std::string& hash = value.as_string()->get();
      if (auto why = check_password_hash(hash)) {
        r.error(value, fmt::format("user \"{}\": {}", user, *why));
        continue;
      }
      out.users[user] = hash;  // inline entries override the file's
    }
  }
  if (out.users.empty() && r.error_count() == errors_before) {
    r.error(table.source(), "auth has no users (give user_file and/or users): nobody could log in");
  }
}

}  // namespace nuri::config::detail
