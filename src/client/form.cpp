#include "client/form.h"

#include <fmt/format.h>

#include <cstdio>
#include <random>

#include "http/mime.h"

namespace nuri::client {

std::string percent_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || ch == '-' || ch == '.' ||
                ch == '_' || ch == '~';
    if (keep) {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) {
    error = fmt::format("cannot read '{}'", path);
    return false;
  }
  out.clear();
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool ok = !std::ferror(f);
  if (f != stdin) std::fclose(f);
  if (!ok) error = fmt::format("error reading '{}'", path);
  return ok;
}

bool data_argument(std::string_view arg, std::string& out, std::string& error) {
  if (!arg.starts_with("@")) {
    out = std::string(arg);
    return true;
  }
  std::string content;
  if (!read_file(std::string(arg.substr(1)), content, error)) return false;
  out.clear();
  for (char c : content) {
    if (c != '\r' && c != '\n') out += c;
  }
  return true;
}

bool data_urlencode(std::string_view arg, std::string& out, std::string& error) {
  std::size_t eq = arg.find('=');
  std::size_t at = arg.find('@');
  if (eq != std::string_view::npos && (at == std::string_view::npos || eq < at)) {
    // "=content" or "name=content"
    std::string_view name = arg.substr(0, eq);
    out = name.empty() ? percent_encode(arg.substr(eq + 1)) : std::string(name) + "=" + percent_encode(arg.substr(eq + 1));
    return true;
  }
  if (at != std::string_view::npos) {
    std::string content;
    if (!read_file(std::string(arg.substr(at + 1)), content, error)) return false;
    std::string_view name = arg.substr(0, at);
    out = name.empty() ? percent_encode(content) : std::string(name) + "=" + percent_encode(content);
    return true;
  }
  out = percent_encode(arg);
  return true;
}

bool form_argument(std::string_view arg, FormPart& out, std::string& error) {
  std::size_t eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    error = fmt::format("-F '{}': expected name=value, name=@file or name=<file", arg);
    return false;
  }
  out = FormPart{};
  out.name = std::string(arg.substr(0, eq));
  std::string_view value = arg.substr(eq + 1);
  if (value.starts_with("@") || value.starts_with("<")) {
    std::string path(value.substr(1));
    if (!read_file(path, out.value, error)) return false;
    if (value[0] == '@') {
      std::size_t slash = path.rfind('/');
      out.filename = slash == std::string::npos ? path : path.substr(slash + 1);
      std::string_view type = http::mime_type_for(*out.filename);
      out.content_type = type.empty() ? "application/octet-stream" : std::string(type);
    }
    return true;
  }
  out.value = std::string(value);
  return true;
}

namespace {

// RFC 7578 §4.2: names and file names in quoted strings; the bytes that would end the quoted
// string or the header line are percent-encoded, as browsers do (HTML §4.10.21.8).
std::string quoted_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') {
      out += "%22";
    } else if (c == '\r') {
      out += "%0D";
    } else if (c == '\n') {
      out += "%0A";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string multipart_body(const std::vector<FormPart>& parts, std::string& boundary) {
  std::random_device random;
  auto contains = [&](const std::string& b) {
    for (const auto& p : parts) {
      if (p.value.find(b) != std::string::npos || p.name.find(b) != std::string::npos) return true;
    }
    return false;
  };
  do {
    boundary = fmt::format("------------------------nuri{:08x}{:08x}", random(), random());
  } while (contains(boundary));
  std::string body;
  for (const auto& p : parts) {
    body += "--" + boundary + "\r\n";
    body += "Content-Disposition: form-data; name=" + quoted_string(p.name);
    if (p.filename) body += "; filename=" + quoted_string(*p.filename);
    body += "\r\n";
    if (p.filename) body += "Content-Type: " + p.content_type + "\r\n";
    body += "\r\n";
    body += p.value;
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

}  // namespace nuri::client
