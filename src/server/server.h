#pragma once
// `nuri serve`: binds the listeners, starts one worker per core, and runs until SIGTERM/SIGINT.
#include <string>

#include "server/options.h"

namespace nuri::server {

/// Runs the server with `options` until SIGTERM or SIGINT, then drains and returns 0.
/// Start-up errors (port in use, missing root...) are printed as one line; returns 1.
int serve(ServeOptions options);

}  // namespace nuri::server
