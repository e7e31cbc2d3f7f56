// The site `nuri serve` shows when no --root is given: one page, built into the binary.
#include <ctime>

#include "server/static_handler.h"

namespace nuri::server {

namespace {

constexpr std::string_view kWelcome = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>It works! nuri is serving</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 2rem; margin-bottom: .25rem; }
  code { background: #f2f2f2; padding: .1rem .3rem; border-radius: 3px; }
  pre { background: #f2f2f2; padding: .75rem; overflow-x: auto; }
</style>
</head>
<body>
<h1>It works!</h1>
<p>This is the default page of <strong>nuri</strong>, an HTTP/1.1 web server. If you can read it,
the server is running and your browser reached it: a TCP connection was opened with the 3-way
handshake, your browser sent a <code>GET /</code> request, and nuri answered <code>200 OK</code>.</p>
<h2>Serve your own files</h2>
<pre>nuri serve --root ./htdocs --listen 127.0.0.1:8080</pre>
<p><code>127.0.0.1</code> is reachable from this machine only; <code>0.0.0.0</code> from every interface.</p>
<h2>Look closer</h2>
<ul>
<li><code>nuri --help</code> and <code>nuri serve --help</code> list every option with its default.</li>
<li><code>curl -v http://127.0.0.1:8080/</code> shows the request and the response headers.</li>
<li>The documentation is in the <code>docs/</code> folder of nuri's source and in its README.</li>
</ul>
</body>
</html>
)html";

OpenFile make_page(std::string_view content) {
  OpenFile page;
  page.content = std::string(content);
  page.in_memory = true;
  page.size = page.content.size();
  page.mtime = std::time(nullptr);  // the page is as new as this process
  page.content_type = "text/html; charset=utf-8";
  page.compute_validators();
  return page;
}

}  // namespace

OpenFile* default_site_page(std::string_view path) {
  static OpenFile welcome = make_page(kWelcome);
  if (path == "/index.html") return &welcome;
  return nullptr;
}

}  // namespace nuri::server
