#pragma once
// What a JSON body is checked for before nlohmann parses it: its nesting depth, found by a flat
// scan before any parser recurses into it, and NUL bytes.
#include <cstddef>
#include <string_view>

namespace nuri::app {

/// Arrays and objects a body may nest before nuri refuses it (400) without parsing it.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// The deepest nesting of arrays and objects in `text`, outside strings. Checked before parsing:
/// a hostile body of a million '[' must not cost a million frames anywhere. Exact for valid JSON;
/// for invalid text it is some number, and the parser refuses the text anyway.
std::size_t json_depth(std::string_view text);

/// Whether a JSON body is refused (400) before nlohmann parses it: nested deeper than
/// kMaxJsonDepth, or holding a NUL byte. RFC 8259 allows no raw NUL anywhere (§2 whitespace,
/// §7 strings), but nlohmann's lexer takes one as the end of the input, so without this check
/// `{"a":1}<NUL>anything` would pass as `{"a":1}`.
bool json_refused_unparsed(std::string_view text);

}  // namespace nuri::app
