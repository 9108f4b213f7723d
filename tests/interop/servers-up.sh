#!/usr/bin/env bash
# servers-up.sh - installs (Debian/Ubuntu, apt), configures and starts Prosody and ejabberd
# on loopback only, for picoxmpp's interop tests (tests/tests/interop.rs). Root, no systemd.
#
# Two server generations (the same Debian packages, so one at a time; the script installs,
# upgrades or downgrades to the one asked for):
#   XMPP_GENERATION=previous (default): Prosody 0.12 and ejabberd 23.01 (Debian 12 bookworm).
#   XMPP_GENERATION=current: Prosody 13.0 + prosody-modules and ejabberd 24.12 from
#     bookworm-backports (the apt source is added if missing). Passwords stored in clear, so
#     every SCRAM hash is offered (Prosody SHA-1/256, ejabberd SHA-1/256/512, each also -PLUS
#     with an XEP-0440 list), plus test hosts on the same ports:
#       tls12.localhost: TLS 1.2 only (STARTTLS), so -PLUS binds tls-server-end-point;
#       badcb.localhost (Prosody only): TLS 1.2 and a wrong tls-server-end-point hash on the
#         server side, so every -PLUS login there must be refused.
#     The accounts exist on those hosts too.
#
#   Prosody : STARTTLS 127.0.0.1:5222, direct TLS (XEP-0368) 127.0.0.1:5223
#   ejabberd: STARTTLS 127.0.0.1:5322, direct TLS (XEP-0368) 127.0.0.1:5323
#   Accounts on both: alice/alice-pass, bob/bob-pass, carol/carol-pass @ localhost
#   Self-signed ECDSA P-256 certificate (SAN: DNS:localhost, IP:127.0.0.1), printed at the end:
#   pass it to the tests as PICOXMPP_INTEROP_CA (the default is the default location).
#
# Idempotent: servers this script started earlier (same XMPP_BASE) are stopped first, and
# everything starts again from a clean slate (fresh data, fresh certificate).
# Env: XMPP_GENERATION (above), XMPP_BASE (default /tmp/picoxmpp-servers), XMPP_SKIP_INSTALL=1
# to skip apt (whatever is installed then runs). XMPP_EXPAT_NODEFER=1 (for the emulated firmware
# only: tests/embedded/) preloads into Prosody a shim that turns off expat's reparse deferral:
# QEMU's UART bridge writes one byte per TCP segment, and with deferral (Debian's fix of
# CVE-2023-52425) a stream header trickled in that way gets no answer. $XMPP_BASE/generation names the generation
# started; the tests read it (next to the certificate) unless PICOXMPP_INTEROP_GENERATION is set.
# Stop with servers-down.sh (same XMPP_BASE).
set -euo pipefail

BASE=${XMPP_BASE:-/tmp/picoxmpp-servers}
GEN=${XMPP_GENERATION:-previous}
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
case $GEN in previous | current) ;; *) die "XMPP_GENERATION must be previous or current, not '$GEN'" ;; esac
# The packages of the other generation may be replaced below: stop what this script started
# earlier (same XMPP_BASE) first, whichever generation it was.
XMPP_BASE="$BASE" bash "$HERE/servers-down.sh" >/dev/null 2>&1 || true

# ---------------------------------------------------------------- 1. packages
# The server packages, their Erlang libraries included: what bookworm-backports upgrades.
SERVER_PKGS_RE='^(prosody|prosody-modules|ejabberd|erlang-jose|erlang-p1-.*)$'
# Installed server packages whose version comes from a backport (~bpo), one "name" a line.
backported() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' 2>/dev/null |
    awk -v re="$SERVER_PKGS_RE" '$1 == "ii" && $2 ~ re && $3 ~ /~bpo/ { print $2 }'
}
# The newest version of a package apt knows outside any backports suite.
bookworm_version() {
  apt-cache madison "$1" | awk -F'|' '$3 !~ /backports/ { gsub(/ /, "", $2); print $2; exit }'
}
# Whether a package is installed with a version >= $2.
ver_ge() {
  local v
  v=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null) || return 1
  [ "${v%% *}" = ii ] && dpkg --compare-versions "${v#* }" ge "$2"
}
if [ "${XMPP_SKIP_INSTALL:-0}" != 1 ]; then
  # The postinst scripts would start the system-wide daemons (listening on 0.0.0.0:5222):
  # a policy-rc.d that answers 101 forbids it, for the time of the install only.
  RCD=/usr/sbin/policy-rc.d OWN_RCD=0
  own_rcd() {
    if [ ! -e $RCD ]; then
      printf '#!/bin/sh\nexit 101\n' > $RCD; chmod 755 $RCD; OWN_RCD=1
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
  }
  # ejabberd's postinst runs 'ejabberdctl status', which can leave an epmd daemon listening on
  # 0.0.0.0:4369: stop the ones the install started.
  EPMD_BEFORE=$(pgrep -x epmd || true)
  stop_new_epmd() {
    local pid
    for pid in $(pgrep -x epmd || true); do
      case " $EPMD_BEFORE " in *" $pid "*) ;; *) kill "$pid" 2>/dev/null || true ;; esac
    done
  }
  APT=(apt-get -y -q -o Dpkg::Options::=--force-confold --no-install-recommends)
  changed=""
  if [ "$GEN" = previous ]; then
    pkgs="prosody lua-unbound ejabberd openssl python3"
    [ "${XMPP_EXPAT_NODEFER:-0}" != 1 ] || pkgs="$pkgs gcc libc6-dev"
    missing=$(for p in $pkgs; do
      dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
    # After the current generation: back to Debian 12's own versions (prosody-modules, which
    # the previous generation does not use, goes).
    downgrade=$(backported)
    if [ -n "$missing$downgrade" ]; then
      own_rcd
      apt-get update -q >/dev/null
      if [ -n "$downgrade" ]; then
        args=()
        for p in $downgrade; do
          if [ "$p" = prosody-modules ]; then args+=("prosody-modules-"); continue; fi
          v=$(bookworm_version "$p")
          [ -n "$v" ] || die "no bookworm version of $p to go back to"
          args+=("$p=$v")
        done
        DEBIAN_FRONTEND=noninteractive "${APT[@]}" --allow-downgrades install "${args[@]}" >/dev/null
        changed="back to bookworm: $(echo "${args[@]}" | sed 's/prosody-modules-/(removed: prosody-modules)/')"
      fi
      missing=$(for p in $pkgs; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
      # shellcheck disable=SC2086
      [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive "${APT[@]}" install $missing >/dev/null
      changed="$changed${missing:+ installed: $(echo $missing)}"
      stop_new_epmd
    fi
    [ -z "$(backported)" ] || die "backported server packages left: $(echo $(backported))"
  else
    need=""
    ver_ge prosody 13.0 && ver_ge prosody-modules 0.0~hg20250101 || need="prosody prosody-modules"
    ver_ge ejabberd 24.12 || need="$need ejabberd"
    base=(lua-unbound openssl python3)
    [ "${XMPP_EXPAT_NODEFER:-0}" != 1 ] || base+=(gcc libc6-dev)
    base_missing=$(for p in "${base[@]}"; do
      dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
    if [ -n "$need$base_missing" ]; then
      own_rcd
      grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ || {
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
          > /etc/apt/sources.list.d/bookworm-backports.sources
        changed="added /etc/apt/sources.list.d/bookworm-backports.sources;"
      }
      # With a newer suite (trixie, testing, sid) also in the sources at priority 500, apt would
      # take every dependency not in backports from there: a throwaway preferences file (nothing
      # changes under /etc) holds them down for this install only.
      PREF=$(mktemp)
      printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n\nPackage: *\nPin: release n=forky\nPin-Priority: 100\n\nPackage: *\nPin: release a=unstable\nPin-Priority: 100\n' > "$PREF"
      apt-get update -q >/dev/null
      # shellcheck disable=SC2086
      [ -z "$base_missing" ] || DEBIAN_FRONTEND=noninteractive "${APT[@]}" -o Dir::Etc::Preferences="$PREF" install $base_missing >/dev/null
      # shellcheck disable=SC2086
      [ -z "$need" ] || DEBIAN_FRONTEND=noninteractive "${APT[@]}" -o Dir::Etc::Preferences="$PREF" install -t bookworm-backports $need >/dev/null
      rm -f "$PREF"
      stop_new_epmd
      changed="$changed${need:+ from bookworm-backports:$need}${base_missing:+ installed: $(echo $base_missing)}"
    fi
    ver_ge prosody 13.0 || die "prosody >= 13.0 is not installed"
    ver_ge ejabberd 24.12 || die "ejabberd >= 24.12 is not installed"
  fi
  if [ $OWN_RCD = 1 ]; then rm -f $RCD; trap - EXIT; fi
  step "packages ($GEN generation): prosody $(dpkg-query -W -f='${Version}' prosody), ejabberd $(dpkg-query -W -f='${Version}' ejabberd)${changed:+ ($(echo $changed))}"
fi
command -v prosody >/dev/null && command -v ejabberdctl >/dev/null || die "prosody/ejabberd not installed"
if [ "$GEN" = current ]; then
  for m in sasl2 sasl2_bind2 sasl2_fast sasl2_sm; do
    [ -f /usr/lib/prosody/modules/mod_$m/mod_$m.lua ] || die "prosody-modules lacks mod_$m (the 2025 backport has it)"
  done
fi

# ---------------------------------------------------------------- 2. clean slate
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
# tls-server-end-point (RFC 5929 §4.1) of this ECDSA-with-SHA256 certificate: SHA-256 of its DER.
CERT_SHA256=$(openssl x509 -in "$BASE/certs/$DOMAIN.crt" -outform DER | sha256sum | cut -c1-64)
echo "$GEN" > "$BASE/generation"
step "self-signed certificate $BASE/certs/$DOMAIN.crt"

# ---------------------------------------------------------------- 3b. expat shim (optional)
PRELOAD=""
if [ "${XMPP_EXPAT_NODEFER:-0}" = 1 ]; then
  cat > "$BASE/nodefer.c" <<'EOF'
/* LD_PRELOAD shim: turns off expat's reparse deferral (expat >= 2.6, or Debian's patched 2.5)
   in every parser the process creates, so that a stream header arriving one byte per segment
   is parsed as it comes. */
#define _GNU_SOURCE
#include <dlfcn.h>
typedef void *P;
static void *sym(const char *n) { static void *h; if (!h) h = dlopen("libexpat.so.1", RTLD_NOW); return h ? dlsym(h, n) : 0; }
static void off(P p) {
  static unsigned char (*f)(P, unsigned char);
  if (!f) f = (unsigned char (*)(P, unsigned char))sym("XML_SetReparseDeferralEnabled");
  if (p && f) f(p, 0);
}
P XML_ParserCreate(const char *e) {
  static P (*r)(const char *); if (!r) r = (P (*)(const char *))sym("XML_ParserCreate");
  P p = r(e); off(p); return p;
}
P XML_ParserCreateNS(const char *e, char s) {
  static P (*r)(const char *, char); if (!r) r = (P (*)(const char *, char))sym("XML_ParserCreateNS");
  P p = r(e, s); off(p); return p;
}
P XML_ParserCreate_MM(const char *e, const void *m, const char *s) {
  static P (*r)(const char *, const void *, const char *);
  if (!r) r = (P (*)(const char *, const void *, const char *))sym("XML_ParserCreate_MM");
  P p = r(e, m, s); off(p); return p;
}
unsigned char XML_ParserReset(P p, const char *e) {
  static unsigned char (*r)(P, const char *); if (!r) r = (unsigned char (*)(P, const char *))sym("XML_ParserReset");
  unsigned char x = r(p, e); off(p); return x;
}
EOF
  command -v gcc >/dev/null || die "XMPP_EXPAT_NODEFER=1 needs gcc (and libc6-dev)"
  gcc -O2 -shared -fPIC -o "$BASE/libexpat-nodefer.so" "$BASE/nodefer.c" -ldl
  chmod 755 "$BASE/libexpat-nodefer.so"
  PRELOAD="$BASE/libexpat-nodefer.so"
  step "expat reparse deferral off in Prosody: $PRELOAD"
fi

# ---------------------------------------------------------------- 4. Prosody
PC="$BASE/prosody/prosody.cfg.lua"
if [ "$GEN" = previous ]; then
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
else
  # The hash of no certificate: on badcb.localhost the server expects this as the
  # tls-server-end-point data, so every -PLUS login there must fail.
  BAD_HASH=$(printf 'not the certificate' | sha256sum | cut -c1-64)
  cat > "$PC" <<EOF
-- picoxmpp interop tests (current generation): loopback only, data under $BASE
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
authentication = "internal_plain"       -- clear-text store: SCRAM-SHA-1 and -256 (+ -PLUS), PLAIN
storage = "internal"
-- tls-server-end-point: the certificate's hex SHA-256 ("auto" works for the first connection only).
tls_server_end_point_hash = "$CERT_SHA256"
certificates = "$BASE/certs"
ssl = { certificate = "$BASE/certs/$DOMAIN.crt", key = "$BASE/certs/$DOMAIN.key" }
modules_enabled = {
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "carbons"; "private"; "blocklist";
  "version"; "time"; "csi_simple"; "smacks"; "posix";
  -- prosody-modules: SASL2, Bind2, FAST, SM inline (offered; picoxmpp logs in with RFC 6120 SASL)
  "sasl2"; "sasl2_bind2"; "sasl2_fast"; "sasl2_sm";
}
VirtualHost "$DOMAIN"
-- TLS 1.2 only: no tls-exporter, so -PLUS binds tls-server-end-point.
VirtualHost "tls12.$DOMAIN"
  ssl = { certificate = "$BASE/certs/$DOMAIN.crt", key = "$BASE/certs/$DOMAIN.key", protocol = "tlsv1_2" }
-- TLS 1.2 only, and a tls-server-end-point that is not the certificate's: -PLUS must fail.
VirtualHost "badcb.$DOMAIN"
  ssl = { certificate = "$BASE/certs/$DOMAIN.crt", key = "$BASE/certs/$DOMAIN.key", protocol = "tlsv1_2" }
  tls_server_end_point_hash = "$BAD_HASH"
EOF
fi
# -D daemonizes; it returns before the pidfile exists.
LD_PRELOAD="$PRELOAD" prosody --config "$PC" -D || { tail -20 "$BASE/prosody/prosody.log" >&2; die "prosody failed to start"; }
for ((i = 0; i < 100; i++)); do [ -s "$BASE/prosody/prosody.pid" ] && break; sleep 0.1; done
[ -s "$BASE/prosody/prosody.pid" ] || { tail -20 "$BASE/prosody/prosody.log" >&2; die "prosody wrote no pidfile"; }
wait_port $P_C2S 20 || { tail -20 "$BASE/prosody/prosody.log" >&2; die "prosody is not listening on $P_C2S"; }
step "prosody started, pid $(cat "$BASE/prosody/prosody.pid")"
P_HOSTS=$DOMAIN
[ "$GEN" = previous ] || P_HOSTS="$DOMAIN tls12.$DOMAIN badcb.$DOMAIN"
for h in $P_HOSTS; do
  for u in $USERS; do prosodyctl --config "$PC" register "$u" "$h" "$u-pass" >/dev/null; done
done
[ -n "$(ls "$BASE"/prosody/data/*/accounts/alice.dat 2>/dev/null)" ] || die "prosody account creation failed"
step "prosody accounts: $USERS on $P_HOSTS"

# ---------------------------------------------------------------- 5. ejabberd
EJ="$BASE/ejabberd"
if [ "$GEN" = previous ]; then
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
else
  cat > "$EJ/etc/ejabberd.yml" <<EOF
loglevel: info
log_rotate_count: 0
hosts: ["$DOMAIN", "tls12.$DOMAIN"]
# TLS 1.2 only on tls12.localhost (STARTTLS takes the options of the stream's host): no
# tls-exporter there, so -PLUS binds tls-server-end-point.
host_config:
  "tls12.$DOMAIN":
    c2s_protocol_options: [no_sslv3, no_tlsv1, no_tlsv1_1, no_tlsv1_3, cipher_server_preference, no_compression]
certfiles: ["$BASE/certs/$DOMAIN.crt", "$BASE/certs/$DOMAIN.key"]
c2s_protocol_options: [no_sslv3, no_tlsv1, no_tlsv1_1, cipher_server_preference, no_compression]
auth_method: internal
auth_password_format: plain     # every SCRAM-SHA-1/256/512 (+ -PLUS) is offered
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
  mod_auth_fast: {}            # XEP-0484 FAST; SASL2 and Bind2 are built into ejabberd_c2s
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
fi
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
E_HOSTS=$DOMAIN
[ "$GEN" = previous ] || E_HOSTS="$DOMAIN tls12.$DOMAIN"
for h in $E_HOSTS; do
  for u in $USERS; do
    for try in 1 2 3 4 5; do "${EJCTL[@]}" register "$u" "$h" "$u-pass" >/dev/null && break; sleep 1; done
  done
  [ "$("${EJCTL[@]}" registered_users "$h" | sort | tr '\n' ' ')" = "alice bob carol " ] \
    || die "ejabberd account creation failed on $h"
done
step "ejabberd accounts: $USERS on $E_HOSTS"

# ---------------------------------------------------------------- 6. readiness
wait_xmpp $P_C2S plain || die "prosody does not answer a stream header on $P_C2S"
wait_xmpp $P_TLS tls || die "prosody does not answer direct TLS on $P_TLS"
wait_xmpp $E_C2S plain || die "ejabberd does not answer a stream header on $E_C2S"
wait_xmpp $E_TLS tls || die "ejabberd does not answer direct TLS on $E_TLS"
step "all four ports answer XMPP"
cat <<EOF
[servers-up] $GEN generation ready in $((($(now) - T0) / 1000000)) ms
  prosody : STARTTLS 127.0.0.1:$P_C2S  direct TLS 127.0.0.1:$P_TLS  (pid $(cat "$BASE/prosody/prosody.pid"))
  ejabberd: STARTTLS 127.0.0.1:$E_C2S  direct TLS 127.0.0.1:$E_TLS  (pid $(cat "$EJ/ejabberd.pid"))
  accounts: alice/alice-pass bob/bob-pass carol/carol-pass @ $DOMAIN$([ "$GEN" = previous ] || echo "
            also on tls12.$DOMAIN (both, TLS 1.2 only) and badcb.$DOMAIN (prosody, wrong tls-server-end-point)")
  expat   : $([ -n "$PRELOAD" ] && echo "reparse deferral off in Prosody (LD_PRELOAD $PRELOAD)" || echo "as packaged")
  CA cert : $BASE/certs/$DOMAIN.crt
            export PICOXMPP_INTEROP_CA=$BASE/certs/$DOMAIN.crt
  logs    : $BASE/prosody/prosody.log  $EJ/logs/ejabberd.log
  stop    : XMPP_BASE=$BASE bash $HERE/servers-down.sh
EOF
