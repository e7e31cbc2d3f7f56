#pragma once
// The status page (like Apache's mod_status), Prometheus metrics and a health check.
#include <ctime>
#include <string_view>

#include "http/parser.h"
#include "server/response.h"
#include "proxy/upstreams.h"
#include "server/stats.h"

namespace nuri::server {

enum class StatusEndpoint { none, status, metrics, health };

/// Renders `endpoint` into `response` from the counters of every worker. `own` is the calling
/// worker's live connection table (the others' are their last published snapshot, at most a
/// second old).
/// `upstreams`: the reverse proxy's upstream groups (their counters are shared by the workers).
void render_status(StatusEndpoint endpoint, const http::Request& request, const ServerState& state,
                   const std::vector<ConnectionInfo>& own, std::size_t own_index,
                   const std::vector<proxy::Group*>& upstreams, Response& response);

}  // namespace nuri::server
