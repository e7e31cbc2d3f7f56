// nuri: one binary, one subcommand per job. Each subcommand parses its options here and calls
// the library; nothing else lives in src/cli.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "base/terminal.h"
#include "cli/commands.h"

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
      std::string where = "nuri";
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return s->parsed(); })) {
        where += " " + sub->get_name();
      }
      std::fprintf(stderr, "%s: %s (see '%s --help')\n", where.c_str(), e.what(), where.c_str());
      return 2;
    }
    return app.exit(e);
  }
  nuri::term::set_color_mode(*nuri::term::parse_color_mode(color));
  if (serve.selected()) return serve.run();
  if (check_config.selected()) return check_config.run();
  if (forward.selected()) return forward.run();
  if (resolve.selected()) return resolve.run();
  if (get.selected()) return get.run();
  if (conns.selected()) return conns.run();
  if (capture.selected()) return capture.run();
  if (doctor.selected()) return doctor.run();
  if (explain.selected()) return explain.run();
  if (version.selected()) return version.run();
  return 0;
}
