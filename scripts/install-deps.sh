#!/usr/bin/env bash
# The one list of Debian packages that nuri's build, tests and benchmarks need.
# Idempotent: installs only what is missing, and says nothing when all is there.
#   install-deps.sh          what make, make test and the forward/proxy benchmarks need
#   install-deps.sh bench    that, plus the peers only bench/run.sh measures (h2o, lighttpd)
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ clang libclang-rt-14-dev make pkg-config
  # libraries (see docs/design.md for why each)
  libcli11-dev libfmt-dev libtomlplusplus-dev nlohmann-json3-dev libc-ares-dev libpcap-dev zlib1g-dev libcrypt-dev
  # tests
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-pytest curl iproute2 procps systemd
  # memcheck on part of the integration tests (make valgrind, scripts/valgrind.sh)
  valgrind
  # slow-client attacks (tests/integration/test_slow_attacks.py)
  slowhttptest
  # the Debian package (make deb: CPack runs dpkg-shlibdeps) and its test (tests/integration/test_package.py)
  dpkg-dev file adduser bash-completion zsh man-db mandoc lintian logrotate
  # browser tests (tests/browser): headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
  # network tools' peers (tests of nuri conns/capture/resolve compare with these)
  tshark dnsmasq-base dnsutils
  # firewall rules in test namespaces (tests/integration/test_doctor.py: drop and reject)
  nftables
  # benchmarks (peers and load generator; socat, rinetd and nginx's stream module for nuri forward)
  wrk nginx-light libnginx-mod-stream socat rinetd
)
# bench/run.sh's other static-file peers: servers with a Debian service, installed only for
# `make bench`, so that make test's machine never gets them.
if [ "${1:-}" = bench ]; then
  packages+=(h2o lighttpd)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages with a service (nginx, h2o, lighttpd) must not start one on port 80 during install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap 'if [ $created_policy -eq 1 ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
