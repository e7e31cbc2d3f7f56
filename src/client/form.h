#pragma once
// Request bodies of HTML forms, as curl's -d, --data-urlencode and -F build them:
// application/x-www-form-urlencoded (WHATWG URL §5.2) and multipart/form-data (RFC 7578).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nuri::client {

/// Percent-encodes every byte but ALPHA, DIGIT and "-._~" (upper-case hex, space as %20), as
/// curl's --data-urlencode does; any form decoder reads it back.
std::string percent_encode(std::string_view bytes);

/// One --data-urlencode argument, in curl's five forms: "content", "=content", "name=content",
/// "@file", "name@file" (content percent-encoded, name as given). False with a reason when a
/// file cannot be read.
bool data_urlencode(std::string_view arg, std::string& out, std::string& error);

/// One -d argument: the bytes as given, or "@file": the file with CR and LF removed (curl's -d
/// rule; "@-" reads standard input). False with a reason when a file cannot be read.
bool data_argument(std::string_view arg, std::string& out, std::string& error);

/// One field of a multipart form.
struct FormPart {
  std::string name;
  std::string value;                    ///< the field's value or the file's bytes
  std::optional<std::string> filename;  ///< set for "name=@file"
  std::string content_type;             ///< for files: by extension, else application/octet-stream
};

/// One -F argument: "name=value", "name=@file" (upload: the file's bytes, its base name as
/// filename) or "name=<file" (a field whose value is the file's bytes). False with a reason.
bool form_argument(std::string_view arg, FormPart& out, std::string& error);

/// A multipart/form-data body for `parts`; `boundary` receives the boundary, chosen so that no
/// part contains it.
std::string multipart_body(const std::vector<FormPart>& parts, std::string& boundary);

/// Reads a whole file ("-": standard input). False with a reason.
bool read_file(const std::string& path, std::string& out, std::string& error);

}  // namespace nuri::client
