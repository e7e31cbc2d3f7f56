#pragma once
// Directory listings (autoindex): an HTML page sortable by each column, or JSON for
// `?format=json`. Sans-socket: it reads a directory and renders bytes, nothing else.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace nuri::server {

enum class ListingFormat { html, json };

/// At most this many entries are listed (the first ones in byte order of their names); a longer
/// listing says "listing truncated".
inline constexpr std::size_t kMaxListingEntries = 10'000;

/// Renders the listing of the directory `dir_fd` (an open directory fd, borrowed, may be
/// O_PATH; it is reopened, so its offset is never moved) whose URL path is `url_path`
/// (normalized, ends with '/', e.g. "/docs/"). Entries whose name starts with '.' are left out
/// unless `show_dotfiles`; "." and ".." never appear. Entries are stat'ed with
/// AT_SYMLINK_NOFOLLOW, so a symlink is reported as one and never followed. Directories come
/// first, then files, each in byte order of their names.
///
/// HTML: a complete page with a parent link (unless `url_path` is "/") and a table of name, size
/// and modification time (ISO 8601, UTC) whose headers sort it; names are HTML-escaped in text
/// and percent-encoded in links. JSON:
/// `{"path": ..., "entries": [{"name", "type", "size", "modified", "mtime"}, ...]}` with
/// `"truncated": true, "note": "listing truncated"` added when capped; names that are not valid
/// UTF-8 have each invalid byte replaced with U+FFFD (in both formats, links keep the raw bytes).
///
/// Replaces the contents of `out`. Returns false (and leaves `out` empty) if the directory cannot
/// be read.
bool render_directory_listing(int dir_fd, std::string_view url_path, ListingFormat format,
                              bool show_dotfiles, std::string& out);

/// The same with another cap than kMaxListingEntries (a configured limit, or a test's), and
/// without the entries whose URL path starts with one of the `hidden` prefixes (a location's
/// `hidden`: what is answered 404 is not listed either).
bool render_directory_listing(int dir_fd, std::string_view url_path, ListingFormat format,
                              bool show_dotfiles, std::string& out, std::size_t max_entries,
                              std::span<const std::string> hidden = {});

}  // namespace nuri::server
