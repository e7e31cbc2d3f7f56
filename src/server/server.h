#pragma once
// `nuri serve`: binds the listeners, starts the workers, and runs until SIGTERM/SIGINT.
#include "config/config.h"

namespace nuri::server {

/// Runs the server described by `config` until SIGTERM or SIGINT, then drains and returns 0.
/// Start-up errors (port in use, unusable root...) are printed as one line; returns 1.
int serve(config::Config config);

}  // namespace nuri::server
