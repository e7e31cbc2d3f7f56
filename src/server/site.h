#pragma once
// The served site as the workers see it: a Config with its document roots opened and its hosts
// and locations indexed for lookup. Built once at start-up, then read-only and shared by all
// workers (nothing in it changes while they run).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "net/socket.h"
#include "proxy/upstreams.h"

namespace nuri::server {

struct SiteLocation {
  const config::Location* config = nullptr;
  int root = -1;  ///< index into Site::roots, or -1 for the built-in welcome site
  proxy::Group* upstreams = nullptr;  ///< a proxying location's back ends
};

struct SiteHost {
  const config::VirtualHost* config = nullptr;
  std::vector<SiteLocation> locations;  ///< longest prefix first
};

/// Why a host was chosen for a request's Host (for `nuri explain`).
enum class HostMatch : std::uint8_t {
  exact,             ///< one of its names
  wildcard,          ///< a "*.example.com" name
  listener_default,  ///< no name matched: the listener's `default_host`
  config_default,    ///< no name matched (or no Host): the configuration's default host
  refused,           ///< no name matched and `unknown_host` says 421 or 404: host is null
};

struct HostChoice {
  const SiteHost* host = nullptr;
  HostMatch match = HostMatch::config_default;
  std::string_view name;  ///< the name that matched ("example.com", ".example.com" for a wildcard)
};

/// Why a location was chosen (for `nuri explain`).
enum class LocationMatch : std::uint8_t {
  prefix,          ///< the longest prefix of the path
  without_slash,   ///< "/docs/" for "/docs": it redirects to the slash
};

class Site {
 public:
  /// Opens every document root (O_PATH) of `config`. On failure `error` says which and why.
  Site(config::Config config, std::string& error);

  const config::Config& config() const { return config_; }
  std::size_t root_count() const { return roots_.size(); }
  int root_fd(std::size_t i) const { return roots_[i].get(); }

  /// The host for a request's Host value (port and case ignored) that came in on listener
  /// `listener`; null when the host is unknown and the config says to refuse it (421/404).
  const SiteHost* select_host(std::string_view host, std::size_t listener) const {
    return choose_host(host, listener).host;
  }
  /// The same, with why (the name that matched, or which default).
  HostChoice choose_host(std::string_view host, std::size_t listener) const;

  /// The location with the longest prefix of `path` (normalized); never null ("/" exists).
  /// `match`, when given, says why.
  const SiteLocation& select_location(const SiteHost& host, std::string_view path,
                                      LocationMatch* match = nullptr) const;

  /// The path root_fd(i) was opened from, as the configuration gives it.
  const std::string& root_path(std::size_t i) const { return root_paths_[i]; }

  /// Whether some location proxies (requests then need their location at the end of the head).
  bool has_proxy() const { return !groups_.empty(); }
  /// The upstream groups of every proxying location (their health is shared by all workers).
  std::vector<proxy::Group*> upstream_groups() const;

 private:
  config::Config config_;
  std::vector<net::FileDescriptor> roots_;
  std::vector<std::string> root_paths_;  // by root index
  std::vector<std::unique_ptr<proxy::Group>> groups_;
  std::vector<SiteHost> hosts_;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> exact_;  // name → host
  std::vector<std::pair<std::string, std::size_t>> wildcards_;        // ".example.com" → host
  std::vector<std::size_t> listener_default_;                         // per listener
};

}  // namespace nuri::server
