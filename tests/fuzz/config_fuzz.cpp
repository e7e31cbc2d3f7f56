// libFuzzer target for config::parse_config on arbitrary text.
// Invariants: never crashes; yields either a Config (with no errors, at least one listener, at
// least one host, a valid default host, and a "/" location in every host) or at least one error,
// each a single "SOURCE:..." line. Roots are resolved against a directory that has no
// subfolders, so only absolute roots like "/" can be valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> errors;
  const std::string source = "/nonexistent-fuzz-dir/fuzz.toml";
  auto config = nuri::config::parse_config(text, source, errors);
  if (config) {
    check(errors.empty());
    check(!config->listeners.empty() && !config->hosts.empty());
    check(config->default_host < config->hosts.size());
    for (const auto& host : config->hosts) {
      bool has_root = false;
      for (const auto& loc : host.locations) has_root = has_root || loc.prefix == "/";
      check(has_root);
    }
    check(!nuri::config::summarize(*config).empty());
  } else {
    check(!errors.empty());
    for (const std::string& e : errors) {
      check(e.find('\n') == std::string::npos);
      check(!e.empty());
    }
  }
  return 0;
}
