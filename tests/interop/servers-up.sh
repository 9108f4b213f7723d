#!/usr/bin/env bash
# servers-up.sh - installs (Debian/Ubuntu, apt), configures and starts Prosody and ejabberd
# on loopback only, for picoxmpp's interop tests (tests/tests/interop.rs). Root, no systemd.
#
#   Prosody : STARTTLS 127.0.0.1:5222, direct TLS (XEP-0368) 127.0.0.1:5223
#   ejabberd: STARTTLS 127.0.0.1:5322, direct TLS (XEP-0368) 127.0.0.1:5323
#   Accounts on both: alice/alice-pass, bob/bob-pass, carol/carol-pass @ localhost
#   Self-signed ECDSA P-256 certificate (SAN: DNS:localhost, IP:127.0.0.1), printed at the end:
#   pass it to the tests as PICOXMPP_INTEROP_CA (the default is the default location).
#
# Idempotent: servers this script started earlier (same XMPP_BASE) are stopped first, and
# everything starts again from a clean slate (fresh data, fresh certificate).
# Env: XMPP_BASE (default /tmp/picoxmpp-servers), XMPP_SKIP_INSTALL=1 to skip apt.
# Stop with servers-down.sh (same XMPP_BASE).
set -euo pipefail

BASE=${XMPP_BASE:-/tmp/picoxmpp-servers}
DOMAIN=localhost
P_C2S=5222 P_TLS=5223
E_C2S=5322 E_TLS=5323 E_DIST=5210   # E_DIST: Erlang distribution, 127.0.0.1 only
USERS="alice bob carol"             # the password of each: <user>-pass
HERE=$(cd "$(dirname "$0")" && pwd)

now() { date +%s%N; }
T0=$(now) TS=$(now)
step() { local t; t=$(now); echo "[servers-up] $(((t - TS) / 1000000)) ms  $*"; TS=$t; }
die() { echo "[servers-up] ERROR: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds
  local i; for ((i = 0; i < $2 * 10; i++)); do port_open "$1" && return 0; sleep 0.1; done; return 1; }
# The server answers a stream header with features offering STARTTLS (plain port) or
# completes a TLS handshake for localhost and answers the header (direct TLS port).
xmpp_answers() { # port plain|tls
  python3 - "$1" "$2" "$DOMAIN" "$BASE/certs/$DOMAIN.crt" <<'PY'
import socket, ssl, sys
port, mode, domain, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "tls":
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(s, server_hostname=domain)
s.sendall(("<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams'>" % domain).encode())
buf = b""
while b"</stream:features>" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
want = b"urn:ietf:params:xml:ns:xmpp-tls" if mode == "plain" else b"urn:ietf:params:xml:ns:xmpp-sasl"
sys.exit(0 if want in buf else 1)
PY
}
# Tries for a few seconds: a listener can accept before the server is ready to talk.
wait_xmpp() { # port plain|tls
  local i; for ((i = 0; i < 50; i++)); do xmpp_answers "$1" "$2" 2>/dev/null && return 0; sleep 0.2; done
  return 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts servers)"

# ---------------------------------------------------------------- 1. packages
if [ "${XMPP_SKIP_INSTALL:-0}" != 1 ]; then
  pkgs="prosody lua-unbound ejabberd openssl python3"
  missing=$(for p in $pkgs; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
  if [ -n "$missing" ]; then
    # The postinst scripts would start the system-wide daemons (listening on 0.0.0.0:5222):
    # a policy-rc.d that answers 101 forbids it, for the time of the install only.
    RCD=/usr/sbin/policy-rc.d OWN_RCD=0
    if [ ! -e $RCD ]; then
      printf '#!/bin/sh\nexit 101\n' > $RCD; chmod 755 $RCD; OWN_RCD=1
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    if [ $OWN_RCD = 1 ]; then rm -f $RCD; trap - EXIT; fi
  fi
  step "packages: prosody $(dpkg-query -W -f='${Version}' prosody), ejabberd $(dpkg-query -W -f='${Version}' ejabberd)${missing:+ (installed: $(echo $missing))}"
fi
command -v prosody >/dev/null && command -v ejabberdctl >/dev/null || die "prosody/ejabberd not installed"

# ---------------------------------------------------------------- 2. clean slate
XMPP_BASE="$BASE" bash "$HERE/servers-down.sh" >/dev/null 2>&1 || true
for p in $P_C2S $P_TLS $E_C2S $E_TLS $E_DIST; do
  ! port_open $p || die "port $p is already in use (another XMPP server? stop it first)"
done
rm -rf "$BASE"; mkdir -p "$BASE"/{certs,prosody/data,ejabberd/etc,ejabberd/db,ejabberd/logs}
chmod 755 "$BASE"
# ejabberdctl always runs as the ejabberd user: it must reach $BASE.
runuser -u ejabberd -- test -x "$BASE" || die "user ejabberd cannot reach $BASE (a parent folder is not world-executable)"

# ---------------------------------------------------------------- 3. certificate
# ECDSA P-256: what small TLS 1.3 clients (embedded-tls) can verify.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN,IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$BASE/certs/$DOMAIN.key" -out "$BASE/certs/$DOMAIN.crt" 2>/dev/null
chgrp ejabberd "$BASE/certs/$DOMAIN.key"; chmod 640 "$BASE/certs/$DOMAIN.key"
chmod 644 "$BASE/certs/$DOMAIN.crt"
step "self-signed certificate $BASE/certs/$DOMAIN.crt"

# ---------------------------------------------------------------- 4. Prosody
PC="$BASE/prosody/prosody.cfg.lua"
cat > "$PC" <<EOF
-- picoxmpp interop tests: loopback only, data under $BASE
run_as_root = true                       -- Prosody refuses root otherwise
pidfile = "$BASE/prosody/prosody.pid"
data_path = "$BASE/prosody/data"
log = { { levels = { min = "info" }, to = "file", filename = "$BASE/prosody/prosody.log" } }
interfaces = { "127.0.0.1" }
c2s_ports = { $P_C2S }
c2s_direct_tls_ports = { $P_TLS }
http_ports = { }
https_ports = { }
network_settings = { nagle = false }     -- replies after TLS would wait ~40 ms otherwise
modules_disabled = { "s2s" }
c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"      -- SCRAM-SHA-1 and PLAIN
storage = "internal"
certificates = "$BASE/certs"
ssl = { certificate = "$BASE/certs/$DOMAIN.crt", key = "$BASE/certs/$DOMAIN.key" }
modules_enabled = {
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "carbons"; "private"; "blocklist";
  "version"; "time"; "csi_simple"; "smacks"; "posix";
}
VirtualHost "$DOMAIN"
EOF
# -D daemonizes; it returns before the pidfile exists.
prosody --config "$PC" -D || { tail -20 "$BASE/prosody/prosody.log" >&2; die "prosody failed to start"; }
for ((i = 0; i < 100; i++)); do [ -s "$BASE/prosody/prosody.pid" ] && break; sleep 0.1; done
[ -s "$BASE/prosody/prosody.pid" ] || { tail -20 "$BASE/prosody/prosody.log" >&2; die "prosody wrote no pidfile"; }
wait_port $P_C2S 20 || { tail -20 "$BASE/prosody/prosody.log" >&2; die "prosody is not listening on $P_C2S"; }
step "prosody started, pid $(cat "$BASE/prosody/prosody.pid")"
for u in $USERS; do prosodyctl --config "$PC" register "$u" "$DOMAIN" "$u-pass" >/dev/null; done
[ -n "$(ls "$BASE"/prosody/data/*/accounts/alice.dat 2>/dev/null)" ] || die "prosody account creation failed"
step "prosody accounts: $USERS"

# ---------------------------------------------------------------- 5. ejabberd
EJ="$BASE/ejabberd"
cat > "$EJ/etc/ejabberd.yml" <<EOF
loglevel: info
log_rotate_count: 0
hosts: ["$DOMAIN"]
certfiles: ["$BASE/certs/$DOMAIN.crt", "$BASE/certs/$DOMAIN.key"]
c2s_protocol_options: [no_sslv3, no_tlsv1, no_tlsv1_1, cipher_server_preference, no_compression]
auth_method: internal
auth_password_format: scram
listen:
  - {port: $E_C2S, ip: "127.0.0.1", module: ejabberd_c2s, starttls_required: true, access: c2s, max_stanza_size: 262144}
  - {port: $E_TLS, ip: "127.0.0.1", module: ejabberd_c2s, tls: true, access: c2s, max_stanza_size: 262144}
s2s_access: none
disable_sasl_mechanisms: [digest-md5, x-oauth2]
acl:
  local: {user_regexp: ""}
  loopback: {ip: ["127.0.0.0/8", "::1/128"]}
access_rules:
  local: {allow: local}
  c2s: {deny: blocked, allow: all}
api_permissions:
  "console commands": {from: [ejabberd_ctl], who: all, what: "*"}
shaper_rules:
  max_user_sessions: 10
modules:
  mod_admin_extra: {}
  mod_blocking: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_disco: {}
  mod_last: {}
  mod_offline: {}
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_roster: {versioning: true}
  mod_stream_mgmt: {}
  mod_version: {}
EOF
# No epmd: the Erlang distribution listens on 127.0.0.1:$E_DIST only.
cat > "$EJ/etc/ejabberdctl.cfg" <<EOF
ERLANG_NODE=ejabberd@localhost
ERL_DIST_PORT=$E_DIST
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {127,0,0,1}"
EJABBERD_PID_PATH=$EJ/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
EOF
printf '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n' > "$EJ/etc/inetrc"
chown -R ejabberd:ejabberd "$EJ"
EJCTL=(ejabberdctl --config-dir "$EJ/etc" --spool "$EJ/db" --logs "$EJ/logs")
"${EJCTL[@]}" start
# A bad ejabberd.yml kills the node while 'start' returns 0: watch the port and the log.
for ((i = 0; i < 300; i++)); do
  port_open $E_C2S && break
  grep -qs critical "$EJ/logs/error.log" && break
  sleep 0.1
done
port_open $E_C2S || { tail -20 "$EJ/logs/ejabberd.log" "$EJ/logs/error.log" >&2 2>/dev/null; die "ejabberd is not listening on $E_C2S"; }
for ((i = 0; i < 50; i++)); do [ -s "$EJ/ejabberd.pid" ] && break; sleep 0.1; done
[ -s "$EJ/ejabberd.pid" ] || die "ejabberd wrote no pidfile"
step "ejabberd started, pid $(cat "$EJ/ejabberd.pid")"
for u in $USERS; do
  for try in 1 2 3 4 5; do "${EJCTL[@]}" register "$u" "$DOMAIN" "$u-pass" >/dev/null && break; sleep 1; done
done
[ "$("${EJCTL[@]}" registered_users "$DOMAIN" | sort | tr '\n' ' ')" = "alice bob carol " ] \
  || die "ejabberd account creation failed"
step "ejabberd accounts: $USERS"

# ---------------------------------------------------------------- 6. readiness
wait_xmpp $P_C2S plain || die "prosody does not answer a stream header on $P_C2S"
wait_xmpp $P_TLS tls || die "prosody does not answer direct TLS on $P_TLS"
wait_xmpp $E_C2S plain || die "ejabberd does not answer a stream header on $E_C2S"
wait_xmpp $E_TLS tls || die "ejabberd does not answer direct TLS on $E_TLS"
step "all four ports answer XMPP"
cat <<EOF
[servers-up] ready in $((($(now) - T0) / 1000000)) ms
  prosody : STARTTLS 127.0.0.1:$P_C2S  direct TLS 127.0.0.1:$P_TLS  (pid $(cat "$BASE/prosody/prosody.pid"))
  ejabberd: STARTTLS 127.0.0.1:$E_C2S  direct TLS 127.0.0.1:$E_TLS  (pid $(cat "$EJ/ejabberd.pid"))
  accounts: alice/alice-pass bob/bob-pass carol/carol-pass @ $DOMAIN
  CA cert : $BASE/certs/$DOMAIN.crt
            export PICOXMPP_INTEROP_CA=$BASE/certs/$DOMAIN.crt
  logs    : $BASE/prosody/prosody.log  $EJ/logs/ejabberd.log
  stop    : XMPP_BASE=$BASE bash $HERE/servers-down.sh
EOF
