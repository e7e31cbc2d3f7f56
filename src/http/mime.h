#pragma once
#include <string_view>

namespace nuri::http {

/// The Content-Type for a file, from its name's extension (ASCII case-insensitive):
/// "text/html; charset=utf-8" for "index.html", "application/octet-stream" when unknown.
/// Text types (text/*, and JavaScript, JSON, XML, SVG) carry "; charset=utf-8".
std::string_view mime_type_for(std::string_view file_name);

}  // namespace nuri::http
