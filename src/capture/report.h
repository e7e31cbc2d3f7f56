#pragma once
// How `nuri capture` prints a connection: a block of text per connection, or a JSON object.
#include <string>

#include "capture/tracker.h"

namespace nuri::capture {

/// The text block of one connection: a title line, one line per segment (time since the
/// connection's first segment, direction, flags, relative seq/ack, length, what it meant and
/// the state changes), HTTP heads indented below their segment, and a summary line.
/// `headers`: print header fields of HTTP heads, not only their first line. `color`: SYN, FIN
/// and RST in the terminal palette (good, warning, error), the columns still aligned.
std::string format_text(const Connection& c, bool headers = true, bool color = false);

/// One connection as a JSON object (text).
std::string format_json(const Connection& c);

}  // namespace nuri::capture
