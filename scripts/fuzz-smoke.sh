#!/usr/bin/env bash
# Builds every fuzz target in fuzz/fuzz_targets/ and runs each for a short time, on stable
# Rust. Installs cargo-fuzz when it is missing. Exit status 0 only if no target crashed.
#
#   FUZZ_SECONDS    run time per target (default 20)
#   FUZZ_TOOLCHAIN  rustup toolchain to build with (default stable)
#
# Stable works because we build without a sanitizer (`-s none`): cargo-fuzz then passes no
# `-Z` flag, only SanitizerCoverage options that stable rustc has. Panics, failed
# assertions, timeouts and out-of-memory are still found; memory errors in C code are not
# (run `cargo +nightly fuzz run <target>` with AddressSanitizer where nightly exists).
# New corpus entries go to fuzz/corpus/<target> (not committed); the committed seeds in
# fuzz/seeds/<target> are only read.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
toolchain="${FUZZ_TOOLCHAIN:-stable}"

cargo_cmd=(cargo)
if command -v rustup >/dev/null 2>&1; then
  cargo_cmd=(cargo "+$toolchain")
fi

if ! "${cargo_cmd[@]}" fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  "${cargo_cmd[@]}" install cargo-fuzz --locked
fi

shopt -s nullglob
targets=()
for file in fuzz_targets/*.rs; do
  targets+=("$(basename "$file" .rs)")
done
if ((${#targets[@]} == 0)); then
  echo "no fuzz targets in fuzz/fuzz_targets/" >&2
  exit 1
fi

echo "== building fuzz targets: ${targets[*]}"
"${cargo_cmd[@]}" fuzz build -s none

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  dirs=("corpus/$target")
  if [ -d "seeds/$target" ]; then
    dirs+=("seeds/$target")
  fi
  echo "== fuzzing $target for ${seconds}s"
  log="$(mktemp)"
  # libFuzzer reports every new input; keep that in a file and show it only on failure.
  if ! "${cargo_cmd[@]}" fuzz run -s none "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "== fuzzing $target FAILED (the crashing input is in fuzz/artifacts/$target/)" >&2
    rm -f "$log"
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  rm -f "$log"
done
echo "== fuzzing smoke run passed: ${targets[*]}"
