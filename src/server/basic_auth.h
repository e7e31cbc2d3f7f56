#pragma once
// HTTP Basic authentication (RFC 7617) against crypt(3) hashes, as htpasswd files hold them.
#include <optional>
#include <string_view>

#include "config/config.h"

namespace nuri::server {

/// Whether `authorization` (the Authorization field value, if any) carries a user of `auth`
/// with the right password. The hash is computed even for unknown users and compared in
/// constant time, so timing tells nothing about which users exist.
bool basic_auth_allows(const config::BasicAuth& auth, std::optional<std::string_view> authorization);

}  // namespace nuri::server
