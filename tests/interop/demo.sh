#!/usr/bin/env bash
# The main job, for now: a device reports presence and sends readings to a
# watcher through a real XMPP server, with the `picoxmpp` command.
#
# It starts Prosody and ejabberd on 127.0.0.1 with the test accounts
# (servers-up.sh: root and apt), builds the command, then:
#   - bob (the watcher) listens and prints what arrives, as JSON lines;
#   - alice (the device) goes online with a status holding a reading, sends
#     three readings to bob, and goes offline politely (-v: the XML of the
#     whole session, SASL payloads redacted, on stderr);
# and stops the servers. It fails unless bob received every reading.
#
#   bash tests/interop/demo.sh            # against Prosody (127.0.0.1:5222)
#   DEMO_SERVER=127.0.0.1:5322 bash tests/interop/demo.sh   # against ejabberd
set -euo pipefail
cd "$(dirname "$0")/../.."

SERVER=${DEMO_SERVER:-127.0.0.1:5222}
BASE=${XMPP_BASE:-/tmp/picoxmpp-servers}
CA="$BASE/certs/localhost.crt"

bash tests/interop/servers-up.sh
trap 'bash tests/interop/servers-down.sh >/dev/null 2>&1 || true' EXIT

cargo build --release -q -p picoxmpp-std
BIN=target/release/picoxmpp
common=(--server "$SERVER" --ca-file "$CA")

out=$(mktemp)
echo "== bob listens"
PICOXMPP_JID=bob@localhost/watcher PICOXMPP_PASSWORD=bob-pass \
  "$BIN" "${common[@]}" listen --json >"$out" &
listener=$!
sleep 2

echo "== alice goes online and sends readings (-v: the XML of the session)"
export PICOXMPP_JID=alice@localhost/device PICOXMPP_PASSWORD=alice-pass
"$BIN" "${common[@]}" presence --status 'temperature 21.5 C' --for 1
for reading in '21.5 C' '21.7 C' '21.6 C'; do
  "$BIN" -v "${common[@]}" send bob@localhost "temperature $reading" 2>&1 | sed 's/^/   /'
done
sleep 1
kill -INT "$listener" 2>/dev/null || true
wait "$listener" || true

echo "== what bob received"
cat "$out"
for reading in '21.5 C' '21.7 C' '21.6 C'; do
  grep -q "temperature $reading" "$out" || { echo "demo: bob did not receive '$reading'" >&2; exit 1; }
done
rm -f "$out"
echo "== every reading arrived"
