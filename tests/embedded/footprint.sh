#!/usr/bin/env bash
# The footprint report (README.md, "Embedded"): builds the firmware with and without TLS and
# the core-alone profile for thumbv7em-none-eabihf, then prints flash, RAM, stack and the
# core's size by crate (tests/embedded/footprint.py). Give it the log of a QEMU run
# (tests/embedded/run-qemu.sh writes one) to include the stack peaks and run time:
#   bash tests/embedded/footprint.sh [QEMU_RUN_LOG]
# PICOXMPP_FW_CA: the CA to build in (any ECDSA P-256 certificate gives the same sizes; a
# throwaway one is made if unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/embedded
LOG=${1:-}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
if [ -z "${PICOXMPP_FW_CA:-}" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=localhost" -keyout "$OUT/ca.key" -out "$OUT/ca.crt" 2>/dev/null
  export PICOXMPP_FW_CA="$OUT/ca.crt"
fi
BIN=target/thumbv7em-none-eabihf/release
(
  cd embedded-example
  cargo build --release -q
  cp "$BIN/picoxmpp-embedded-example" "$OUT/fw-tls.elf"
  cargo build --release -q --no-default-features
  cp "$BIN/picoxmpp-embedded-example" "$OUT/fw-plain.elf"
  cargo build --release -q -p picoxmpp-core-profile
  cp "$BIN/picoxmpp-core-profile" "$OUT/core-profile.elf"
)
python3 "$HERE/footprint.py" "$OUT/fw-tls.elf" "$OUT/fw-plain.elf" "$OUT/core-profile.elf" ${LOG:+"$LOG"}
