#pragma once
// Internal to src/config: reading [host.location.auth] and checking crypt(3) hashes.
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/reader.h"

namespace nuri::config::detail {

/// nullopt when `hash` is a well-formed crypt(3) hash nuri accepts ($6$, $5$, $2a$/$2b$/$2y$,
/// $y$); otherwise why not (MD5 "$1$" is refused as too weak).
std::optional<std::string> check_password_hash(std::string_view hash);

/// RFC 7617 user-id without a colon, spaces or controls.
bool valid_user_name(std::string_view user);

/// Fills `out` from an auth table; problems go to `r`.
void read_auth(Reader& r, const toml::table& table, BasicAuth& out);

}  // namespace nuri::config::detail
