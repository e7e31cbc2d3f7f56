#include "server/basic_auth.h"

#include <crypt.h>

#include <cstring>
#include <memory>
#include <string>

#include "http/base64.h"
#include "http/parser.h"

namespace nuri::server {

namespace {

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// A SHA-512 crypt hash of a random string, checked against when the user is unknown.
constexpr const char* kDummyHash =
    "$6$nuridummysalt$Wq5fS1K0l0sB7uH9Hh6C0Hk0T2M0x9b3q4bP6aQv2pT7oQ0c3rF1yH8nJ5kL2mN4pR6sT8vX0zB2dF4hJ6lN8p.";

}  // namespace

bool basic_auth_allows(const config::BasicAuth& auth, std::optional<std::string_view> authorization,
                       std::string* user_out) {
  if (!authorization) return false;
  std::string_view value = *authorization;
  // RFC 9110 §11.1: the scheme name is case-insensitive.
  if (value.size() < 6 || !http::iequals(value.substr(0, 6), "Basic ")) return false;
  value.remove_prefix(6);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  std::string decoded;
  if (!http::base64_decode(value, decoded)) return false;
  auto colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  std::string user = decoded.substr(0, colon);
  std::string password = decoded.substr(colon + 1);
  auto it = auth.users.find(user);
  const char* hash = it != auth.users.end() ? it->second.c_str() : kDummyHash;
  // crypt_data is large (~32 KiB): one per thread, not on the stack.
  thread_local auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* computed = crypt_r(password.c_str(), hash, data.get());
  bool ok = computed && computed[0] != '*' && constant_time_equal(computed, hash) && it != auth.users.end();
  if (ok && user_out) *user_out = std::move(user);
  return ok;
}

}  // namespace nuri::server
