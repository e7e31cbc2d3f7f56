#pragma once
#include <string>
#include <string_view>

namespace nuri::http {

/// Decodes standard base64 (RFC 4648 §4) with padding, as HTTP Basic credentials use it
/// (RFC 7617). Strict: any character outside the alphabet, bad padding or non-zero trailing
/// bits make it return false.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace nuri::http
