#pragma once
// The path a back end's hooks and handlers see (Request::path()), and the one the router matches.
#include <optional>
#include <string>
#include <string_view>

namespace nuri::app {

/// `raw` (the path part of a request-target, without the query) with its percent-encoded
/// unreserved characters decoded (RFC 3986 §2.3: ALPHA DIGIT - . _ ~): the syntax-based
/// normalization of §6.2.2.2, which never changes what a URI identifies. Without it "/%61dmin"
/// is "/admin" to the router, which decodes each segment, but not to a hook that checks
/// path().starts_with("/admin"). Every other escape stays as sent ("%2F" is no separator, "%25"
/// no '%'), so decoding the result gives the same segments as decoding `raw`. A path with a
/// malformed escape is returned as sent (the router matches no route for it).
/// nullopt when `raw` holds "%00": no path names a NUL, and one that reached a parameter would
/// end a C string built from it (a file name cut short at a chosen extension): 400.
std::optional<std::string> normalize_request_path(std::string_view raw);

}  // namespace nuri::app
