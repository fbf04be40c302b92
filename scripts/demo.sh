#!/usr/bin/env bash
# The main job: `eid demo`, the whole platform on this machine (server with the identity
# provider and My Pages, the eID app with demo cards, SQLite in ./eid-demo). Installs what
# it needs on a fresh Debian 12 machine (as root), builds `eid`, and runs it until Ctrl-C.
# Arguments go to `eid demo` (`--reset`, `--port`, `--data`; see `eid demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cc >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc g++ make
fi

cargo build --locked --quiet --bin eid
exec target/debug/eid demo "$@"
