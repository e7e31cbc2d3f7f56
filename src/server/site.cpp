#include "server/site.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace nuri::server {

namespace {

// "Example.COM:8080" → "example.com"; "[::1]:80" → "[::1]". Written into `out`.
std::string_view host_key(std::string_view host, char* out, std::size_t size) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com." is the same host
  std::size_t n = std::min(host.size(), size);
  for (std::size_t i = 0; i < n; ++i) {
    char c = host[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  return {out, n};
}

}  // namespace

Site::Site(config::Config config, std::string& error) : config_(std::move(config)) {
  std::vector<std::string>& paths = root_paths_;
  auto root_index = [&](const std::string& path) -> int {
    if (path.empty()) return -1;
    auto it = std::find(paths.begin(), paths.end(), path);
    if (it != paths.end()) return static_cast<int>(it - paths.begin());
    net::FileDescriptor fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd && error.empty()) error = fmt::format("cannot use {} as a document root: {}", path, std::strerror(errno));
    paths.push_back(path);
    roots_.push_back(std::move(fd));
    return static_cast<int>(paths.size() - 1);
  };
  for (std::size_t h = 0; h < config_.hosts.size(); ++h) {
    const config::VirtualHost& vh = config_.hosts[h];
    SiteHost host;
    host.config = &vh;
    for (const config::Location& l : vh.locations) {
      proxy::Group* upstreams = nullptr;
      if (l.proxy) {
        std::string where = fmt::format("{} {}", vh.names.empty() ? std::string("*") : vh.names.front(), l.prefix);
        upstreams = groups_.emplace_back(std::make_unique<proxy::Group>(*l.proxy, std::move(where))).get();
      }
      host.locations.push_back({&l, l.proxy ? -1 : root_index(l.root.value_or(vh.root)), upstreams});
    }
    std::stable_sort(host.locations.begin(), host.locations.end(), [](const SiteLocation& a, const SiteLocation& b) {
      return a.config->prefix.size() > b.config->prefix.size();
    });
    hosts_.push_back(std::move(host));
    for (const std::string& name : vh.names) {
      if (name.starts_with("*.")) {
        wildcards_.emplace_back(name.substr(1), h);
      } else {
        exact_.emplace(name, h);
      }
    }
  }
  // The most specific wildcard first: "*.a.example.com" before "*.example.com".
  std::stable_sort(wildcards_.begin(), wildcards_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const config::Listener& l : config_.listeners) {
    std::size_t d = config_.default_host;
    // The host the listener names, by any of its names (a wildcard name too).
    for (std::size_t h = 0; h < config_.hosts.size() && !l.default_host.empty(); ++h) {
      const auto& names = config_.hosts[h].names;
      if (std::find(names.begin(), names.end(), l.default_host) != names.end()) {
        d = h;
        break;
      }
    }
    listener_default_.push_back(d);
  }
}

HostChoice Site::choose_host(std::string_view host, std::size_t listener) const {
  char buffer[256];
  std::string_view key = host_key(host, buffer, sizeof buffer);
  if (!key.empty() && host.size() <= sizeof buffer) {
    if (auto it = exact_.find(key); it != exact_.end()) return {&hosts_[it->second], HostMatch::exact, it->first};
    for (const auto& [suffix, index] : wildcards_) {
      // "*.example.com" matches "a.example.com" and "a.b.example.com", not "example.com".
      if (key.size() > suffix.size() && key.ends_with(suffix)) return {&hosts_[index], HostMatch::wildcard, suffix};
    }
  }
  if (config_.unknown_host != config::UnknownHost::default_host && !key.empty()) return {nullptr, HostMatch::refused, {}};
  std::size_t d = listener < listener_default_.size() ? listener_default_[listener] : config_.default_host;
  bool named = listener < config_.listeners.size() && !config_.listeners[listener].default_host.empty();
  return {&hosts_[d], named ? HostMatch::listener_default : HostMatch::config_default, {}};
}

const SiteLocation& Site::select_location(const SiteHost& host, std::string_view path, LocationMatch* match) const {
  for (const SiteLocation& l : host.locations) {
    if (path.starts_with(l.config->prefix)) {
      if (match) *match = LocationMatch::prefix;
      return l;
    }
    // "/docs/" also governs "/docs", which it redirects to "/docs/".
    const std::string& p = l.config->prefix;
    if (p.size() > 1 && p.back() == '/' && path.size() + 1 == p.size() && p.starts_with(path)) {
      if (match) *match = LocationMatch::without_slash;
      return l;
    }
  }
  if (match) *match = LocationMatch::prefix;
  return host.locations.back();  // "/" is the shortest and always there
}

std::vector<proxy::Group*> Site::upstream_groups() const {
  std::vector<proxy::Group*> out;
  for (const auto& g : groups_) out.push_back(g.get());
  return out;
}

}  // namespace nuri::server
