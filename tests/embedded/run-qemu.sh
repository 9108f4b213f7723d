#!/usr/bin/env bash
# Boots the firmware of embedded-example/ under QEMU (MPS2 AN386, Cortex-M4F) with its UART0
# bridged to Prosody on 127.0.0.1:5222, and checks with a watcher (bob) that the device's
# presence and every reading arrive in order (tests/tests/embedded_qemu.rs).
#
# Needs: the servers started with XMPP_EXPAT_NODEFER=1 bash tests/interop/servers-up.sh
# (previous generation: Prosody 0.12 offers SCRAM-SHA-1), qemu-system-arm, the
# thumbv7em-none-eabihf target; defmt-print (cargo install defmt-print) to decode the
# firmware's log, which is printed after the test.
# Env: XMPP_BASE (as servers-up.sh), PICOXMPP_FW_READINGS (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${XMPP_BASE:-/tmp/picoxmpp-servers}
export PICOXMPP_FW_CA="$BASE/certs/localhost.crt"
export PICOXMPP_FW_READINGS=${PICOXMPP_FW_READINGS:-5}
export PICOXMPP_INTEROP_CA="$PICOXMPP_FW_CA"
[ -s "$PICOXMPP_FW_CA" ] || { echo "no $PICOXMPP_FW_CA: start the servers first" >&2; exit 1; }
command -v qemu-system-arm >/dev/null || { echo "qemu-system-arm is not installed" >&2; exit 1; }

# The CA of this server run goes into the image (a few seconds: only the final crate rebuilds).
(cd embedded-example && cargo build --release)
export PICOXMPP_FW_ELF="$PWD/embedded-example/target/thumbv7em-none-eabihf/release/picoxmpp-embedded-example"
PICOXMPP_FW_LOG=$(mktemp)
export PICOXMPP_FW_LOG
status=0
cargo test -p picoxmpp-tests --test embedded_qemu -- --ignored --nocapture || status=$?
if command -v defmt-print >/dev/null; then
  echo "---- firmware log (defmt over semihosting)"
  defmt-print -e "$PICOXMPP_FW_ELF" < "$PICOXMPP_FW_LOG" || true
else
  echo "(defmt-print not installed: the firmware log $PICOXMPP_FW_LOG stays undecoded)"
fi
rm -f "$PICOXMPP_FW_LOG"
exit $status
