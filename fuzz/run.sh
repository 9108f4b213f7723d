#!/usr/bin/env bash
# Runs one fuzz target for a while on a scratch copy of its seed corpus.
#
#   bash fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# libFuzzer writes every new interesting input into the first corpus
# directory it is given, so that is a temporary copy: the tracked seeds in
# fuzz/corpus/TARGET stay as committed (they are passed second, read-only).
# Crashing inputs go to fuzz/artifacts/TARGET/ (ignored by git); the
# script prints them and exits non-zero. Needs a nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
seconds=$2
shift 2

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
seeds="$fuzz_dir/corpus/$target"
if [ ! -d "$seeds" ]; then
    echo "no seed corpus at $seeds" >&2
    exit 2
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$target.XXXXXX")
log="$scratch.log"
trap 'rm -rf "$scratch"' EXIT
cp -R "$seeds/." "$scratch/"

cd "$root"
# -timeout: a hang is a finding too (libFuzzer's default is 20 minutes).
set +e
started=$SECONDS
cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$scratch" "$seeds" -- \
    -dict="$fuzz_dir/xml.dict" \
    -max_total_time="$seconds" \
    -rss_limit_mb=2048 \
    -max_len=65536 \
    -timeout=20 \
    -print_final_stats=1 \
    "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
elapsed=$((SECONDS - started))
set -e

execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
cov=$(grep -oE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)[[:space:]]+cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
echo "== $target: ${execs:-?} executions in ${elapsed}s (build included)${cov:+ ($cov)}; exit status $status; log $log"
if [ "$status" -ne 0 ]; then
    echo "== $target: FAILED; crashing inputs:" >&2
    grep -E 'Test unit written to|artifact_prefix' "$log" >&2 || true
    exit "$status"
fi
