#pragma once
// Percent-decoding (RFC 3986 §2.1), shared by request paths, query strings, form bodies and
// multipart filename* parameters, so that all of them read "%XX" the same way; and the encoding
// of paths the server writes back (links, redirects).
#include <string>
#include <string_view>

namespace nuri::http {

/// Appends the decoded form of `in` to `out`: "%XX" (either case) becomes that byte and, when
/// `plus_as_space` (application/x-www-form-urlencoded), '+' becomes a space. Returns false on a
/// malformed escape ('%' not followed by two hex digits); `out` then holds a partial result the
/// caller must discard. Decoding never lengthens the text, so reserving in.size() is enough.
bool percent_decode_append(std::string_view in, std::string& out, bool plus_as_space = false);

/// Appends `in` to `out` with every byte but the unreserved characters (RFC 3986 §2.3) and '/'
/// percent-encoded: any path, raw bytes included, becomes a path-absolute or relative reference
/// that resolves back to exactly that path.
void percent_encode_path_append(std::string_view in, std::string& out);

}  // namespace nuri::http
