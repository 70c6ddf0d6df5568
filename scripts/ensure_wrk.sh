#!/usr/bin/env bash
# `make bench` needs wrk (the HTTP load generator, Debian's package `wrk`). Installs it with
# apt-get when missing and we are root (as .ci/run installs nginx); says plainly when it can't.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "bench: installing wrk (apt-get)" >&2
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; then
    command -v wrk >/dev/null 2>&1 && exit 0
  fi
  echo "bench: apt-get could not install wrk" >&2
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "bench: installing wrk (sudo apt-get)" >&2
  if sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; then
    command -v wrk >/dev/null 2>&1 && exit 0
  fi
  echo "bench: sudo apt-get could not install wrk" >&2
fi
cat >&2 <<'MSG'
bench: wrk is not installed and could not be installed from here.
  Debian/Ubuntu: sudo apt-get install wrk     macOS: brew install wrk
The intake and HTTP locate benchmarks need it; the others run without it
(make bench BENCH_ARGS="--only list,locate,timer,stats,broadcast" skips intake).
MSG
exit 1
