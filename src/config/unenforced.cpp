#include <fmt/format.h>

#include "config/config.h"

namespace nuri::config {

std::vector<std::string> unenforced_settings(const Config& config) {
  std::vector<std::string> out;
  std::string source = config.source.empty() ? std::string("the configuration") : config.source;
  auto refuse = [&](const char* key) {
    out.push_back(fmt::format("{}: {} is not enforced by this version of nuri yet; remove it", source, key));
  };
  if (config.limits.requests_per_second > 0) refuse("limits.requests_per_second");
  if (config.limits.burst > 0) refuse("limits.burst");
  if (config.limits.max_connections_per_client > 0) refuse("limits.max_connections_per_client");
  return out;
}

}  // namespace nuri::config
