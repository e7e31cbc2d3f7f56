#pragma once
// The served site as the workers see it: a Config with its document roots opened and its hosts
// and locations indexed for lookup. Built once at start-up, then read-only and shared by all
// workers (nothing in it changes while they run).
#include <cstddef>
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

class Site {
 public:
  /// Opens every document root (O_PATH) of `config`. On failure `error` says which and why.
  Site(config::Config config, std::string& error);

  const config::Config& config() const { return config_; }
  std::size_t root_count() const { return roots_.size(); }
  int root_fd(std::size_t i) const { return roots_[i].get(); }

  /// The host for a request's Host value (port and case ignored) that came in on listener
  /// `listener`; null when the host is unknown and the config says to refuse it (421/404).
  const SiteHost* select_host(std::string_view host, std::size_t listener) const;

  /// The location with the longest prefix of `path` (normalized); never null ("/" exists).
  const SiteLocation& select_location(const SiteHost& host, std::string_view path) const;

  /// Whether some location proxies (requests then need their location at the end of the head).
  bool has_proxy() const { return !groups_.empty(); }
  /// The upstream groups of every proxying location (their health is shared by all workers).
  std::vector<proxy::Group*> upstream_groups() const;

 private:
  config::Config config_;
  std::vector<net::FileDescriptor> roots_;
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
