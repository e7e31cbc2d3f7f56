// The smallest useful libnuri back end: routes with typed parameters, a form, a cookie, a
// redirect, JSON, and a handler that throws (to show the 500 and its request id).
//   build/release/nuri-example-hello 127.0.0.1:8080
#include <nuri/server.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <thread>
#include <string>
#include <string_view>
#include <system_error>

namespace {

// Visits so far, as the cookie says. The client wrote it: anything but a count that leaves room
// for one more visit ("abc", "-5", twenty digits) starts over at 0.
std::int64_t visits_in(std::optional<std::string_view> cookie) {
  if (!cookie) return 0;
  std::int64_t visits = 0;
  auto [end, ec] = std::from_chars(cookie->data(), cookie->data() + cookie->size(), visits);
  bool counted = ec == std::errc() && end == cookie->data() + cookie->size() && visits >= 0 &&
                 visits < INT64_MAX;
  return counted ? visits : 0;
}

}  // namespace

int main(int argc, char** argv) {
  nuri::Server server;
  server.listen(argc > 1 ? argv[1] : "127.0.0.1:8080").workers(2);
  if (argc > 2) server.send_timeout(std::atof(argv[2]));

  server.get("/", [](const nuri::Request& req, nuri::Response& res) {
    std::int64_t visits = visits_in(req.cookie("visits")) + 1;
    nuri::Cookie cookie;
    cookie.name = "visits";
    cookie.value = std::to_string(visits);
    cookie.path = "/";
    cookie.http_only = true;
    cookie.same_site = nuri::Cookie::SameSite::lax;
    res.set_cookie(cookie).html("<!doctype html><title>hello</title><p>visit " + std::to_string(visits) + "</p>\n");
  });

  // Django's path("items/<int:id>", ...): only digits reach this handler.
  server.get("/items/{id:int}", [](const nuri::Request& req, nuri::Response& res) {
    res.json({{"id", *req.int_param("id")}});
  });
  server.get("/files/{path:*}", [](const nuri::Request& req, nuri::Response& res) {
    res.body(std::string("file: ") + std::string(req.param("path")) + "\n");
  });
  // A file of the download directory (the third argument), sent with sendfile. The name is one
  // path segment and not a dot file, so a client cannot reach anything else.
  std::string downloads = argc > 3 ? argv[3] : "";
  server.get("/downloads/{name}", [downloads](const nuri::Request& req, nuri::Response& res) {
    std::string name(req.param("name"));
    if (downloads.empty() || name.empty() || name[0] == '.' || name.find('/') != std::string::npos) {
      res.status(404).body("no such file\n");
      return;
    }
    try {
      res.file(downloads + "/" + name);
    } catch (const std::system_error&) {
      res.status(404).body("no such file\n");
    }
  });

  auto api = server.group("/api");
  static std::atomic<int> next_id{1};
  api.post("/items", [](const nuri::Request& req, nuri::Response& res) {
    if (!req.is_form()) {
      res.status(415).body("send a form (application/x-www-form-urlencoded)\n");
      return;
    }
    auto name = req.form("name");
    if (!name || name->empty()) {
      res.status(422).body("name is required\n");
      return;
    }
    res.status(201).header("Location", "/items/" + std::to_string(next_id++)).body("created " + std::string(*name) + "\n");
  });
  // JSON in, JSON out: the body was parsed (and refused with 400 if invalid) before this runs.
  api.post("/sum", [](const nuri::Request& req, nuri::Response& res) {
    const nlohmann::json* body = req.json();
    if (!body || !body->contains("numbers") || !(*body)["numbers"].is_array()) {
      res.status(422).json({{"error", "send {\"numbers\": [...]}"}});
      return;
    }
    double sum = 0;
    for (const auto& n : (*body)["numbers"]) {
      if (!n.is_number()) {
        res.status(422).json({{"error", "numbers only"}});
        return;
      }
      sum += n.get<double>();
    }
    res.json({{"sum", sum}, {"count", (*body)["numbers"].size()}});
  });
  // multipart/form-data: fields through form(), files through files().
  api.post("/upload", [](const nuri::Request& req, nuri::Response& res) {
    nlohmann::json files = nlohmann::json::array();
    for (const nuri::Upload& f : req.files()) {
      files.push_back({{"field", f.field}, {"filename", f.filename}, {"type", f.content_type}, {"size", f.data.size()}});
    }
    res.json({{"multipart", req.is_multipart()}, {"title", req.form("title").value_or("")}, {"files", files}});
  });
  api.get("/echo", [](const nuri::Request& req, nuri::Response& res) {
    std::string out;
    for (std::string_view tag : req.query_all("tag")) out += std::string(tag) + ";";
    res.body(out + "\n");
  });

  // Answers that wait without blocking a worker: one on the worker's own timer, one from
  // another thread, one never (the client gets 504 after the send timeout).
  server.get("/slow", [](const nuri::Request& req, nuri::Response& res) {
    int ms = std::atoi(std::string(req.query("ms").value_or("100")).c_str());
    res.later().finish([ms](nuri::Response& r) { r.body("waited " + std::to_string(ms) + " ms\n"); },
                       std::chrono::milliseconds(ms));
  });
  server.get("/thread", [](const nuri::Request&, nuri::Response& res) {
    std::thread([later = res.later()] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      later.finish([](nuri::Response& r) { r.body("answered from another thread\n"); });
    }).detach();
  });
  server.get("/never", [](const nuri::Request&, nuri::Response& res) { (void)res.later(); });
  server.get("/late-boom", [](const nuri::Request&, nuri::Response& res) {
    res.later().finish([](nuri::Response&) { throw std::runtime_error("failed later"); });
  });

  // A body in pieces: ?n=COUNT lines, one every ?ms=, written from another thread.
  server.get("/count", [](const nuri::Request& req, nuri::Response& res) {
    int n = std::atoi(std::string(req.query("n").value_or("5")).c_str());
    int ms = std::atoi(std::string(req.query("ms").value_or("20")).c_str());
    res.header("Content-Type", "text/plain; charset=utf-8");
    std::thread([stream = res.stream(), n, ms] {
      for (int i = 1; i <= n; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        if (!stream.write(std::to_string(i) + "\n")) return;  // the client left
      }
      stream.end();
    }).detach();
  });

  server.get("/old", [](const nuri::Request&, nuri::Response& res) { res.redirect("/", 301); });
  server.get("/boom", [](const nuri::Request&, nuri::Response&) -> void { throw std::runtime_error("on purpose"); });

  // Middleware: a header on every answer, and a guard in front of /admin. path() has escaped
  // letters decoded, as the router reads them: "/%61dmin" is the /admin route, and meets the guard.
  server.before([](const nuri::Request& req, nuri::Response& res) {
    if (req.path().rfind("/admin", 0) == 0 && req.header("X-Token") != "secret") {
      res.status(401).body("token required\n");
      return false;
    }
    return true;
  });
  server.after([](const nuri::Request& req, nuri::Response& res) { res.header("X-Request-Id", req.id()); });
  server.get("/admin", [](const nuri::Request&, nuri::Response& res) { res.body("welcome, admin\n"); });

  return server.run();
}
