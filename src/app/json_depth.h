#pragma once
// The nesting depth of a JSON text, found by a flat scan before any parser recurses into it.
#include <cstddef>
#include <string_view>

namespace nuri::app {

/// Arrays and objects a body may nest before nuri refuses it (400) without parsing it.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// The deepest nesting of arrays and objects in `text`, outside strings. Checked before parsing:
/// a hostile body of a million '[' must not cost a million frames anywhere. Exact for valid JSON;
/// for invalid text it is some number, and the parser refuses the text anyway.
std::size_t json_depth(std::string_view text);

}  // namespace nuri::app
