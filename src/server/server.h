#pragma once
// `nuri serve`: binds the listeners, starts the workers, and runs until SIGTERM/SIGINT. SIGHUP
// reloads the configuration, SIGUSR1 reopens the access log.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace nuri::server {

/// Builds the configuration (the file and what the command line overrides): at start and again
/// on each SIGHUP. nullopt, with each error in `errors`, when it is invalid.
using ConfigLoader = std::function<std::optional<config::Config>(std::vector<std::string>& errors)>;

class Application;

/// Runs the server until SIGTERM or SIGINT, then drains and returns 0. An invalid configuration
/// returns 2 and start-up errors (port in use, unusable root...) return 1, each printed as one line.
/// `app`: a back end (libnuri's routes) answering the requests it wants; it must outlive the call.
/// `program` starts its messages ("nuri serve: listening on ...").
int serve(ConfigLoader load, const Application* app = nullptr, std::string_view program = "nuri serve");

}  // namespace nuri::server
