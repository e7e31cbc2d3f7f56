#pragma once
// The [[forward]] tables of a configuration: port-forwarding rules (`nuri forward`'s) run by the
// same daemon that serves HTTP, or by `nuri forward --config FILE` alone.
#include <toml++/toml.h>

#include "config/config.h"

namespace nuri::config::detail {

class Reader;

/// Reads every [[forward]] table into config.forwards; call after [[listen]] was read, so that
/// a rule on an HTTP listener's address is reported.
void read_forwards(Reader& r, const toml::array& array, Config& config);

}  // namespace nuri::config::detail
