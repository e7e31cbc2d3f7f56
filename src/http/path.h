#pragma once
// Request paths to file-system paths: percent-decoding and dot-segment removal.
#include <string>
#include <string_view>

#include "http/status.h"

namespace nuri::http {

/// Turns the path part of a request-target ("/a/%7Eb/../c", no query) into a normalized
/// absolute path ("/a/c"): percent-decodes it (RFC 3986 §2.1; "%2F" becomes a separator),
/// removes "." and ".." segments (RFC 3986 §5.2.4) and collapses repeated slashes. A trailing
/// slash is kept. Returns Status::ok and writes `out`, or Status::bad_request for a malformed
/// escape, a decoded NUL or other control character, a path not starting with '/', or ".."
/// that climbs above the root.
Status normalize_path(std::string_view raw, std::string& out);

/// Percent-decodes `in` into `out` (no '+' handling). False on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace nuri::http
