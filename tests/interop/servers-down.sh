#!/usr/bin/env bash
# servers-down.sh - stops the Prosody and ejabberd that servers-up.sh started (same
# XMPP_BASE, either XMPP_GENERATION), by the PIDs in their pidfiles and nothing else:
# SIGTERM (a clean shutdown for both; the Erlang VM runs init:stop()), SIGKILL after 20 s.
# Removes $XMPP_BASE unless XMPP_KEEP=1 (to read the logs). Idempotent: nothing running is not an error.
set -uo pipefail
BASE=${XMPP_BASE:-/tmp/picoxmpp-servers}
now() { date +%s%N; }
T0=$(now)
declare -A PIDS=()
for f in prosody:"$BASE/prosody/prosody.pid" ejabberd:"$BASE/ejabberd/ejabberd.pid"; do
  name=${f%%:*} file=${f#*:}
  [ -s "$file" ] || continue
  pid=$(tr -dc 0-9 < "$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
  # A stale pidfile whose PID now belongs to someone else: leave that process alone.
  if ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$BASE"; then
    echo "[servers-down] $name: pid $pid is not ours (stale pidfile), skipped"; continue
  fi
  kill -TERM "$pid" 2>/dev/null && PIDS[$name]=$pid
done
for name in "${!PIDS[@]}"; do
  pid=${PIDS[$name]}
  for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "[servers-down] $name (pid $pid) ignored SIGTERM, killing"; kill -KILL "$pid"
  fi
  echo "[servers-down] $name (pid $pid) stopped"
done
[ "${XMPP_KEEP:-0}" = 1 ] || rm -rf "$BASE"
echo "[servers-down] done in $((($(now) - T0) / 1000000)) ms"
