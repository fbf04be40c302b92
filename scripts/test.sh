#!/usr/bin/env bash
# Runs every check of the project on a fresh Debian 12 machine (as root) or a developer's:
# installs the Debian packages the tests need when they are missing, then formatting,
# clippy, every test, and a short fuzzing smoke run. Exit status 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# Debian packages the tests use: OpenSSL's command line (independent certificate checks),
# a C compiler for the bundled SQLite and aws-lc, git for cargo-fuzz's install, Chromium and
# its WebDriver for the browser tests; the card stacks: pcscd with vsmartcard's virtual
# reader, OpenSC (opensc-tool, pkcs11-tool, its PKCS#11 module), SoftHSM2, pcsc-lite's
# headers for the PC/SC transport, pcsc-tools, and util-linux's unshare (each PC/SC test
# runs a pcscd of its own in a private mount namespace: the tests run as root).
packages=(openssl gcc g++ make git ca-certificates chromium chromium-driver
  pcscd vsmartcard-vpcd opensc softhsm2 libpcsclite-dev pcsc-tools util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# PostgreSQL for the PostgreSQL store's tests and the several-node tests: the server on
# 127.0.0.1:5432 when one answers (EID_TEST_POSTGRES, default the postgres user without a
# password), else Debian's, installed and started here with a password of its own, and
# stopped at the end. Each test makes a fresh database and drops it.
started_postgres=""
: "${EID_TEST_POSTGRES:=postgres://postgres@127.0.0.1:5432/postgres}"
postgres_answers() {
  psql "$EID_TEST_POSTGRES" -Atqc 'SELECT 1' >/dev/null 2>&1
}
if ! command -v psql >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "psql is missing (run as root, or install postgresql-client)" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client
fi
if ! postgres_answers; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    if ! dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed"; then
      [ "$(id -u)" -eq 0 ] || { echo "PostgreSQL is missing (run as root, or set EID_TEST_POSTGRES)" >&2; exit 1; }
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
    fi
    cluster=$(pg_lsclusters -h | awk 'NR == 1 {print $1 " " $2}')
    [ -n "$cluster" ] || { pg_createcluster 15 main >/dev/null; cluster="15 main"; }
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster start
    started_postgres=$cluster
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'eid-test'\"" >/dev/null
    EID_TEST_POSTGRES=postgres://postgres:eid-test@127.0.0.1:5432/postgres
  fi
  postgres_answers || { echo "PostgreSQL on 127.0.0.1:5432 does not accept $EID_TEST_POSTGRES (set EID_TEST_POSTGRES)" >&2; exit 1; }
fi
export EID_TEST_POSTGRES
stop_postgres() {
  # shellcheck disable=SC2086
  [ -z "$started_postgres" ] || pg_ctlcluster $started_postgres stop || true
}

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
results=$(mktemp)
trap 'rm -f "$results"; stop_postgres' EXIT
if cargo nextest --version >/dev/null 2>&1; then
  cargo test --workspace --locked --doc
  cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$results"
  # "Summary [ 5.4s] 137 tests run: 137 passed, 2 skipped"
  passed=$(sed -n 's/.* tests\? run: \([0-9]*\) passed.*/\1/p' "$results" | tail -n 1)
  skipped=$(sed -n 's/.* passed.*, \([0-9]*\) skipped.*/\1/p' "$results" | tail -n 1)
else
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$results"
  passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$results" | awk '{s += $1} END {print s + 0}')
  skipped=0
fi

log "fuzzing smoke run"
scripts/fuzz-smoke.sh

log "all checks passed"
echo "tests: ${passed:-0} passed, 0 failed, ${skipped:-0} skipped"
