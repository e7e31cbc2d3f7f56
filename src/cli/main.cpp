// nuri: one binary, one subcommand per job. Each subcommand parses its options here and calls
// the library; nothing else lives in src/cli.
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "base/terminal.h"
#include "cli/commands.h"

namespace {

// "nuri SUBCOMMAND", for messages.
std::string command_name(const CLI::App& app) {
  std::string where = "nuri";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return s->parsed(); })) {
    where += " " + sub->get_name();
  }
  return where;
}

// The first argument that is neither an option nor the value of --color: what was meant as the
// subcommand, when none was recognised. Null when there is none.
const char* first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--color") {
      ++i;  // its value
    } else if (!arg.starts_with('-')) {
      return argv[i];
    }
  }
  return nullptr;
}

// A command whose output did not all reach stdout (a full disk, a closed pipe) did not do its
// job, whatever it returned: exit 23, curl's number for it, with one line. A command that failed
// already said why and keeps its own code.
int with_output_written(const CLI::App& app, int status) {
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int error = flush_failed ? errno : 0;
  if (status != 0 || (!flush_failed && !std::ferror(stdout))) return status;
  std::fprintf(stderr, "%s: could not write the output%s%s\n", command_name(app).c_str(), error ? ": " : "",
               error ? std::strerror(error) : "");
  return 23;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nuri: a web server and network toolkit (HTTP/1.1 server, port forwarding, connection and packet views)"};
  app.name("nuri");
  app.set_version_flag("-V,--version", nuri::cli::version_text,
                       "Print the version, the build (compiler, type, sanitizers) and library versions");
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();
  // Global options may follow the subcommand too (`nuri get URL --color=never`); set before the
  // subcommands are added, which inherit it.
  app.fallthrough();
  std::string color = "auto";
  app.add_option("--color", color, "Colour: auto (only on a terminal, and not when NO_COLOR is set or TERM=dumb), "
                                   "always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));

  nuri::cli::ServeCommand serve;
  serve.add_to(app);
  nuri::cli::CheckConfigCommand check_config;
  check_config.add_to(app);
  nuri::cli::ForwardCommand forward;
  forward.add_to(app);
  nuri::cli::ResolveCommand resolve;
  resolve.add_to(app);
  nuri::cli::GetCommand get;
  get.add_to(app);
  nuri::cli::ConnsCommand conns;
  conns.add_to(app);
  nuri::cli::CaptureCommand capture;
  capture.add_to(app);
  nuri::cli::DoctorCommand doctor;
  doctor.add_to(app);
  nuri::cli::ExplainCommand explain;
  explain.add_to(app);
  nuri::cli::VersionCommand version;
  version.add_to(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) {
      // One clear line that says where to look: the subcommand being parsed, if any.
      const std::string where = command_name(app);
      if (where == "nuri") {
        if (const char* word = first_word(argc, argv)) {
          std::fprintf(stderr, "nuri: unknown subcommand '%s' (see 'nuri --help')\n", word);
          return 2;
        }
      }
      std::fprintf(stderr, "%s: %s (see '%s --help')\n", where.c_str(), e.what(), where.c_str());
      return 2;
    }
    return app.exit(e);
  }
  nuri::term::set_color_mode(*nuri::term::parse_color_mode(color));
  int status = 0;
  if (serve.selected()) status = serve.run();
  if (check_config.selected()) status = check_config.run();
  if (forward.selected()) status = forward.run();
  if (resolve.selected()) status = resolve.run();
  if (get.selected()) status = get.run();
  if (conns.selected()) status = conns.run();
  if (capture.selected()) status = capture.run();
  if (doctor.selected()) status = doctor.run();
  if (explain.selected()) status = explain.run();
  if (version.selected()) status = version.run();
  return with_output_written(app, status);
}
