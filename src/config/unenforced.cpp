#include "config/config.h"

namespace nuri::config {

// Every setting the configuration accepts is enforced now: the per-client limits of [limits]
// were the last ones (src/server/client_limits.h). Kept, empty, for its callers in serve and
// check-config until they drop it; a setting parsed ahead of its implementation goes here.
std::vector<std::string> unenforced_settings(const Config&) { return {}; }

}  // namespace nuri::config
