#include "server/access_log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/log.h"
#include "base/utf8.h"

namespace nuri::server {

void append_log_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Valid UTF-8 is kept as the characters it is ("café" stays café; as \u00c3\u00a9 each byte
// became a Latin-1 character of its own). A byte that is not part of valid UTF-8 cannot be
// written in a JSON string: it becomes U+FFFD, as in the status page's JSON.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c >= 0x80) {
      const std::size_t length = base::utf8_sequence_length(text.substr(i));
      if (length == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text, i, length);
        i += length;
      }
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

void AccessLog::refresh_time() {
  std::time_t now = std::time(nullptr);
  if (now == second_) return;
  second_ = now;
  std::tm tm{};
  localtime_r(&now, &tm);
  time_length_ = std::strftime(time_, sizeof time_, "[%d/%b/%Y:%H:%M:%S %z]", &tm);
  std::tm utc{};
  gmtime_r(&now, &utc);
  iso_time_length_ = std::strftime(iso_time_, sizeof iso_time_, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

void AccessLog::add_json(const AccessRecord& r) {
  buffer_ += "{\"time\":\"";
  buffer_.append(iso_time_, iso_time_length_);
  buffer_ += "\",\"client\":";
  append_json_string(buffer_, r.client);
  buffer_ += ",\"request\":";
  append_json_string(buffer_, r.request_line);
  fmt::format_to(std::back_inserter(buffer_), ",\"status\":{},\"bytes\":{},\"referer\":", r.status, r.bytes);
  append_json_string(buffer_, r.referer);
  buffer_ += ",\"user_agent\":";
  append_json_string(buffer_, r.user_agent);
  buffer_ += ",\"user\":";
  append_json_string(buffer_, r.user);
  buffer_ += "}\n";
}

void AccessLog::add(const AccessRecord& r) {
  if (fd_ < 0) return;
  refresh_time();
  if (format_ == config::LogFormat::json) {
    add_json(r);
    if (buffer_.size() > 64 * 1024) flush();
    return;
  }
  buffer_.append(r.client);
  buffer_.append(" - ");
  if (r.user.empty()) buffer_ += '-'; else append_log_escaped(buffer_, r.user);
  buffer_ += ' ';
  buffer_.append(time_, time_length_);
  buffer_.append(" \"");
  if (r.request_line.empty()) buffer_ += '-'; else append_log_escaped(buffer_, r.request_line);
  fmt::format_to(std::back_inserter(buffer_), "\" {} ", r.status);
  if (r.bytes == 0) buffer_ += '-'; else fmt::format_to(std::back_inserter(buffer_), "{}", r.bytes);
  if (format_ == config::LogFormat::common) {
    buffer_ += '\n';
    if (buffer_.size() > 64 * 1024) flush();
    return;
  }
  buffer_.append(" \"");
  if (r.referer.empty()) buffer_ += '-'; else append_log_escaped(buffer_, r.referer);
  buffer_.append("\" \"");
  if (r.user_agent.empty()) buffer_ += '-'; else append_log_escaped(buffer_, r.user_agent);
  buffer_.append("\"\n");
  if (buffer_.size() > 64 * 1024) flush();
}

void AccessLog::flush() {
  if (buffer_.empty()) return;
  std::size_t prefix = 0;
  // Only after a failure (a relaxed load otherwise): a line cut short by a full disk is ended,
  // so that the next one starts on a line of its own. The exchange lets one worker end it: two
  // that both saw the flag wrote an empty line after it.
  if (health_->failing.load(std::memory_order_relaxed) && health_->torn.exchange(false, std::memory_order_relaxed)) {
    buffer_.insert(buffer_.begin(), '\n');
    prefix = 1;
  }
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // a full disk must not stop the server: drop the lines, say so once
      write_failed(done, prefix, n < 0 ? errno : ENOSPC);
      buffer_.clear();
      return;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  if (health_->failing.load(std::memory_order_relaxed)) write_resumed();
}

void AccessLog::write_failed(std::size_t written, std::size_t prefix, int error) {
  auto lost = static_cast<std::uint64_t>(std::count(buffer_.begin() + static_cast<std::ptrdiff_t>(written), buffer_.end(), '\n'));
  if (written < prefix) lost -= prefix;  // the newline that ends a torn line is no log line
  health_->dropped.fetch_add(lost, std::memory_order_relaxed);
  if (written > 0) {
    health_->torn.store(buffer_[written - 1] != '\n', std::memory_order_relaxed);
  } else if (prefix > 0) {
    health_->torn.store(true, std::memory_order_relaxed);  // the newline that ends it did not get out
  }
  if (!health_->failing.exchange(true)) {
    base::log_error("access log: cannot write: {}; requests are still served, their log lines are dropped "
                    "until it can be written again",
                    std::strerror(error));
  }
}

void AccessLog::write_resumed() {
  health_->torn.store(false, std::memory_order_relaxed);
  if (health_->failing.exchange(false)) {
    base::log_info("access log: writing again; {} line(s) were dropped", health_->dropped.exchange(0));
  }
}

}  // namespace nuri::server
