#include "server/directory_listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/utf8.h"
#include "http/percent.h"

namespace nuri::server {
namespace {

enum class EntryType { file, directory, symlink, other };

struct Entry {
  std::string name;
  EntryType type = EntryType::other;
  std::uint64_t size = 0;
  std::int64_t mtime = 0;
};

struct Listing {
  std::vector<Entry> entries;
  bool truncated = false;
};

std::string_view type_name(EntryType type) {
  switch (type) {
    case EntryType::file: return "file";
    case EntryType::directory: return "directory";
    case EntryType::symlink: return "symlink";
    case EntryType::other: return "other";
  }
  return "other";
}

EntryType type_of(mode_t mode) {
  if (S_ISREG(mode)) return EntryType::file;
  if (S_ISDIR(mode)) return EntryType::directory;
  if (S_ISLNK(mode)) return EntryType::symlink;
  return EntryType::other;
}

// Reads the names, keeping only the `max_entries` smallest (a max-heap), so that a huge
// directory costs bounded memory and the truncated listing does not depend on readdir's order.
bool read_listing(int dir_fd, bool show_dotfiles, std::size_t max_entries, Listing& listing) {
  // A fresh open description: fdopendir on a dup would share (and move) the caller's offset,
  // and an O_PATH descriptor cannot be read at all.
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return false;
  }
  std::vector<std::string> names;  // a max-heap once full
  bool ok = true;
  for (;;) {
    errno = 0;
    const dirent* ent = ::readdir(dir);
    if (ent == nullptr) {
      ok = errno == 0;
      break;
    }
    std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (name.front() == '.' && !show_dotfiles) continue;
    if (names.size() < max_entries) {
      names.emplace_back(name);
      if (names.size() == max_entries) std::make_heap(names.begin(), names.end());
      continue;
    }
    listing.truncated = true;
    if (names.empty() || name >= names.front()) continue;
    std::pop_heap(names.begin(), names.end());
    names.back() = name;
    std::push_heap(names.begin(), names.end());
  }
  if (!ok) {
    ::closedir(dir);
    return false;
  }

  std::sort(names.begin(), names.end());
  listing.entries.resize(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) listing.entries[i].name = std::move(names[i]);
  int stat_fd = ::dirfd(dir);
  std::erase_if(listing.entries, [stat_fd](Entry& e) {
    struct stat st {};
    // Gone since readdir (ENOENT) or not searchable: leave it out rather than guess.
    if (::fstatat(stat_fd, e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
    e.type = type_of(st.st_mode);
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
    return false;
  });
  ::closedir(dir);

  // Names are already in byte order; move directories ahead, keeping that order.
  std::stable_partition(listing.entries.begin(), listing.entries.end(),
                        [](const Entry& e) { return e.type == EntryType::directory; });
  return true;
}

std::string iso8601_utc(std::int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "-";
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n == 0 ? std::string("-") : std::string(buf, n);
}

std::string human_size(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr std::string_view kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  value /= 1024;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return value < 10 ? fmt::format("{:.1f} {}", value, kUnits[unit])
                    : fmt::format("{:.0f} {}", value, kUnits[unit]);
}


// HTML-escapes `text` for element content and quoted attributes; each byte that is not part of
// valid UTF-8 becomes U+FFFD, since the page declares charset utf-8.
void append_html(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: {
        std::size_t len = base::utf8_sequence_length(text.substr(i));
        if (len == 0) {
          out += "\xEF\xBF\xBD";
          ++i;
        } else {
          out.append(text, i, len);
          i += len;
        }
        continue;
      }
    }
    ++i;
  }
}

constexpr std::string_view kHtmlHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of )";

constexpr std::string_view kStyle = R"(</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}
th,td{padding:.2em 1em;text-align:left;white-space:nowrap}
th{cursor:pointer;user-select:none;border-bottom:1px solid #999}
th[aria-sort=ascending]::after{content:" \25B2"}
th[aria-sort=descending]::after{content:" \25BC"}
td.size{text-align:right}
tr:hover td{background:#f3f3f3}
a{text-decoration:none}
.note{color:#a00}
</style>
</head>
<body>
<h1>Index of )";

constexpr std::string_view kTableHead = R"(<table>
<thead><tr><th data-type="text">Name</th><th data-type="number">Size</th><th data-type="number">Last modified</th></tr></thead>
<tbody>
)";

// Sorts the rows by a clicked header using each cell's data-sort; a second click reverses.
constexpr std::string_view kScript = R"(</tbody>
</table>
<script>
document.querySelectorAll("th").forEach(function(th, col) {
  th.addEventListener("click", function() {
    var body = document.querySelector("tbody");
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var num = th.dataset.type === "number";
    document.querySelectorAll("th").forEach(function(h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      var c = num ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function(r) { body.appendChild(r); });
  });
});
</script>
</body>
</html>
)";

void render_html(const Listing& listing, std::string_view url_path, std::string& out) {
  out.reserve(2048 + listing.entries.size() * 256);
  out += kHtmlHead;
  append_html(out, url_path);
  out += kStyle;
  append_html(out, url_path);
  out += "</h1>\n";
  if (url_path != "/") out += "<p><a href=\"../\">../</a> (parent directory)</p>\n";
  if (listing.truncated) {
    fmt::format_to(std::back_inserter(out),
                   "<p class=\"note\">listing truncated: only the first {} entries are shown</p>\n",
                   listing.entries.size());
  }
  out += kTableHead;
  for (const Entry& e : listing.entries) {
    bool is_dir = e.type == EntryType::directory;
    // The name's sort key keeps directories ahead of files in ascending order.
    out += "<tr><td data-sort=\"";
    out += is_dir ? '0' : '1';
    append_html(out, e.name);
    out += "\"><a href=\"";
    http::percent_encode_path_append(e.name, out);
    if (is_dir) out += '/';
    out += "\">";
    append_html(out, e.name);
    if (is_dir) out += '/';
    out += "</a></td>";
    if (is_dir) {
      out += "<td class=\"size\" data-sort=\"-1\">-</td>";
    } else {
      fmt::format_to(std::back_inserter(out), "<td class=\"size\" data-sort=\"{}\">{}</td>", e.size,
                     human_size(e.size));
    }
    fmt::format_to(std::back_inserter(out), "<td data-sort=\"{}\"><time>{}</time></td></tr>\n",
                   e.mtime, iso8601_utc(e.mtime));
  }
  out += kScript;
}

void render_json(const Listing& listing, std::string_view url_path, std::string& out) {
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (const Entry& e : listing.entries) {
    entries.push_back({{"name", e.name},
                       {"type", type_name(e.type)},
                       {"size", e.size},
                       {"modified", iso8601_utc(e.mtime)},
                       {"mtime", e.mtime}});
  }
  nlohmann::ordered_json doc = {{"path", std::string(url_path)}, {"entries", std::move(entries)}};
  if (listing.truncated) {
    doc["truncated"] = true;
    doc["note"] = "listing truncated";
  }
  // `replace`: a name that is not UTF-8 gets U+FFFD instead of an exception.
  out = doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

bool render_directory_listing(int dir_fd, std::string_view url_path, ListingFormat format,
                              bool show_dotfiles, std::string& out) {
  return render_directory_listing(dir_fd, url_path, format, show_dotfiles, out,
                                  kMaxListingEntries);
}

bool render_directory_listing(int dir_fd, std::string_view url_path, ListingFormat format,
                              bool show_dotfiles, std::string& out, std::size_t max_entries,
                              std::span<const std::string> hidden) {
  out.clear();
  Listing listing;
  if (!read_listing(dir_fd, show_dotfiles, max_entries, listing)) return false;
  if (!hidden.empty()) {
    std::string path;
    std::erase_if(listing.entries, [&](const Entry& e) {
      path.assign(url_path);
      path += e.name;
      if (e.type == EntryType::directory) path += '/';
      return std::any_of(hidden.begin(), hidden.end(), [&](const std::string& h) { return path.starts_with(h); });
    });
  }
  if (format == ListingFormat::json) {
    render_json(listing, url_path, out);
  } else {
    render_html(listing, url_path, out);
  }
  return true;
}

}  // namespace nuri::server
