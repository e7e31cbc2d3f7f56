#pragma once
// HTTP Basic authentication (RFC 7617) against crypt(3) hashes, as htpasswd files hold them.
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace nuri::server {

/// Whether `authorization` (the Authorization field value, if any) carries a user of `auth`
/// with the right password; if so, and `user` is given, the user's name goes there (for the
/// access log). The hash is computed even for unknown users and compared in constant time, so
/// timing tells nothing about which users exist.
bool basic_auth_allows(const config::BasicAuth& auth, std::optional<std::string_view> authorization,
                       std::string* user = nullptr);

}  // namespace nuri::server
