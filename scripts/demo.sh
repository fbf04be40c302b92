#!/usr/bin/env bash
# The main job: `eid demo`, the whole platform on this machine (server with the identity
# provider and My Pages, the eID app with demo cards, SQLite in ./eid-demo). Installs what
# it needs on a fresh Debian 12 machine (as root), builds `eid`, and runs it until Ctrl-C.
# Arguments go to `eid demo` (`--reset`, `--port`, `--data`; see `eid demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Building needs a C compiler (SQLite, aws-lc) and pcsc-lite's headers (the PC/SC card
# transport links libpcsclite).
missing=()
for p in gcc g++ make libpcsclite-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo build --locked --quiet --bin eid
exec target/debug/eid demo "$@"
