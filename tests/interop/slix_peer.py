#!/usr/bin/env python3
"""slix_peer.py - a slixmpp peer for picoxmpp's cross-client interop tests
(tests/tests/interop_slixmpp.rs).

Logs in as carol@localhost (password carol-pass) over STARTTLS on 127.0.0.1:5222
(Prosody of tests/interop/servers-up.sh), verifying the server's certificate for
`localhost` against the test CA only, sends initial presence and prints

    ready <full JID>

then, depending on the mode:

    slix_peer.py send JID BODY   sends BODY to JID (a chat message), disconnects, exits 0
    slix_peer.py receive         waits for one message with a body, prints
                                     received {"from": "...", "body": "..."}
                                 (one line of JSON), disconnects, exits 0

Every presence received is printed as a line too:

    presence {"from": "...", "type": "..."}

Options: --port (5222), --host (127.0.0.1), --domain (localhost), --user (carol),
--mech (a SASL mechanism to insist on, e.g. SCRAM-SHA-1; default: slixmpp's choice),
--ca (PICOXMPP_INTEROP_CA, else /tmp/picoxmpp-servers/certs/localhost.crt),
--resource (slix-<pid>), --timeout seconds for each step (20).

Exit status: 0 done; 1 login failed or timed out; 2 slixmpp is not installed
(install it with: python3 -m pip install slixmpp==1.17.0). Errors go to stderr,
each on a line starting with "error: ".
"""
import argparse
import asyncio
import inspect
import json
import os
import ssl
import sys

try:
    import slixmpp
except ImportError as e:
    print("error: slixmpp is not installed for %s (%s): python3 -m pip install slixmpp==1.17.0"
          % (sys.executable, e), file=sys.stderr, flush=True)
    sys.exit(2)

DEFAULT_CA = "/tmp/picoxmpp-servers/certs/localhost.crt"


def parse_args():
    p = argparse.ArgumentParser(description="slixmpp peer for picoxmpp's interop tests")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--user", default="carol")
    p.add_argument("--resource", default="slix-%d" % os.getpid())
    p.add_argument("--ca", default=os.environ.get("PICOXMPP_INTEROP_CA", DEFAULT_CA))
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--mech", default=None)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("send", help="send one chat message")
    s.add_argument("to")
    s.add_argument("body")
    sub.add_parser("receive", help="wait for one message and print it")
    return p.parse_args()


def say(line):
    print(line, flush=True)


async def main(args):
    loop = asyncio.get_running_loop()
    jid = "%s@%s/%s" % (args.user, args.domain, args.resource)
    if args.mech:
        c = slixmpp.ClientXMPP(jid, args.user + "-pass", sasl_mech=args.mech)
    else:
        c = slixmpp.ClientXMPP(jid, args.user + "-pass")
    # The test CA only, hostname checked (the certificate names localhost).
    if not os.path.isfile(args.ca):
        raise RuntimeError("CA certificate %s not found (start the servers with "
                           "tests/interop/servers-up.sh)" % args.ca)
    c.ssl_context = ssl.create_default_context(cafile=args.ca)
    c.ssl_context.check_hostname = True
    c.ssl_context.verify_mode = ssl.CERT_REQUIRED

    # STARTTLS on the given port only: slixmpp >= 1.9 tries direct TLS (XEP-0368) first on it,
    # a failed attempt that fires connection_failed.
    c.enable_direct_tls = False
    c.enable_plaintext = False
    c.enable_starttls = True

    up = loop.create_future()
    got = loop.create_future()
    gone = loop.create_future()

    def fail(what):
        return lambda *_: up.done() or up.set_exception(RuntimeError(what))

    c.add_event_handler("session_start", lambda _: up.done() or up.set_result(True))
    c.add_event_handler("failed_auth", fail("authentication failed"))
    c.add_event_handler("connection_failed",
                        lambda e: up.done() or up.set_exception(RuntimeError("connection failed: %s" % e)))
    c.add_event_handler("disconnected", lambda *_: (gone.done() or gone.set_result(True),
                                                    up.done() or up.set_exception(
                                                        RuntimeError("disconnected before the session started"))))

    def on_message(m):
        if m["body"] and not got.done():
            got.set_result((str(m["from"]), m["body"]))

    c.add_event_handler("message", on_message)
    c.add_event_handler("presence", lambda p: say("presence " + json.dumps(
        {"from": str(p["from"]), "type": p["type"]})))

    if "host" in inspect.signature(c.connect).parameters:  # slixmpp >= 1.9
        c.connect(args.host, args.port)
    else:  # slixmpp 1.8
        c.connect(address=(args.host, args.port))
    try:
        await asyncio.wait_for(up, args.timeout)
    except asyncio.TimeoutError:
        raise RuntimeError("no session within %.0f s on %s:%d" % (args.timeout, args.host, args.port))
    c.send_presence()
    tls = c.transport.get_extra_info("ssl_object") if c.transport else None
    say("ready %s" % c.boundjid.full)
    print("slix_peer: session up as %s, %s" % (c.boundjid.full, tls.version() if tls else "no TLS"),
          file=sys.stderr, flush=True)

    if args.mode == "send":
        c.send_message(mto=args.to, mbody=args.body, mtype="chat")
        say("sent")
    else:
        try:
            frm, body = await asyncio.wait_for(got, args.timeout)
        except asyncio.TimeoutError:
            raise RuntimeError("no message within %.0f s" % args.timeout)
        say("received " + json.dumps({"from": frm, "body": body}))

    # A polite close: the send queue is flushed first (what was sent goes out).
    c.disconnect()
    try:
        await asyncio.wait_for(gone, args.timeout)
    except asyncio.TimeoutError:
        raise RuntimeError("no clean disconnect within %.0f s" % args.timeout)
    return 0


if __name__ == "__main__":
    a = parse_args()
    try:
        sys.exit(asyncio.run(main(a)))
    except Exception as e:  # one clear line for the Rust test's failure message
        print("error: %s: %s" % (type(e).__name__, e), file=sys.stderr, flush=True)
        sys.exit(1)
