#pragma once
// What `nuri serve` is told on its command line (and, later, in its configuration file).
#include <cstdint>
#include <string>
#include <vector>

#include "net/address.h"

namespace nuri::server {

struct ServeOptions {
  std::string root;                        ///< document root; empty: the embedded default site
  std::vector<net::SocketAddress> listen;  ///< at least one
  unsigned workers = 0;                    ///< 0: one per core
  std::string access_log;                  ///< file path, "-" for stdout, empty for none
  bool server_tokens = false;              ///< send "Server: nuri/<version>"
  bool dotfiles = false;                   ///< serve names starting with '.'
  std::uint32_t max_connections = 10000;   ///< per worker; past it: 503 and close
  double header_timeout = 10;              ///< seconds to receive a request head: 408
  double idle_timeout = 60;                ///< seconds a keep-alive connection may idle
  double body_timeout = 30;                ///< seconds between two reads of a body: 408
  double send_timeout = 60;                ///< seconds without write progress: close
  double grace_period = 10;                ///< seconds SIGTERM waits for in-flight requests
  std::uint64_t max_body_size = 1 << 20;   ///< request bodies larger: 413
  std::uint32_t max_header_size = 16384;   ///< request heads larger: 431
  std::uint32_t max_uri_size = 8192;       ///< request targets longer: 414
};

}  // namespace nuri::server
