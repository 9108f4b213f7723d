"""Writes the seed corpus of the parse_stream fuzz target and its README.

Each seed is the 6 control bytes the target reads, then a stream.
Run: python3 fuzz/gen_seeds.py
"""
import struct, os
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "parse_stream")

def ctl(buf=4096, limits=None, mode=0, seed=0):
    """6 control bytes: buffer size, limits, chunk mode and seed."""
    b01 = struct.pack("<H", buf - 64)
    if limits is None:
        b2, b3 = 0, 0
    else:
        stanza_k, depth_i, attrs = limits
        b2 = (stanza_k & 0x1f) | (depth_i << 5)
        b3 = 0x80 | (attrs & 0x3f)
    b4 = (mode & 3) | ((seed >> 8) & 0x3f) << 2
    b5 = seed & 0xff
    return b01 + bytes([b2, b3, b4, b5])

HDR = ("<?xml version='1.0'?>"
       "<stream:stream from='im.example.com' id='t7AMCin9zjMNwQKDnplntZPIDEI=' "
       "to='juliet@im.example.com' version='1.0' xml:lang='en' "
       "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")

SESSION = HDR + """
<stream:features>
  <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>
    <required/>
  </starttls>
</stream:features>
<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>""" + HDR + """
<stream:features>
  <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>
    <mechanism>SCRAM-SHA-1-PLUS</mechanism>
    <mechanism>SCRAM-SHA-1</mechanism>
    <mechanism>PLAIN</mechanism>
  </mechanisms>
</stream:features>
<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQWlHZ3hRcUl5M3dwR2tnUT09</challenge>
<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289</success>""" + HDR + """
<stream:features>
  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>
</stream:features>
<iq id='yhc13a95' type='result'>
  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>
    <jid>juliet@im.example.com/balcony</jid>
  </bind>
</iq>
<message from='juliet@example.com/balcony' id='b4vs9km4' to='romeo@example.net' type='chat' xml:lang='en'>
  <subject>I implore you!</subject>
  <subject xml:lang='cs'>&#x00DA;p&#x011B;nliv&#x011B; pros&#x00ED;m!</subject>
  <body>Wherefore art thou, Romeo?</body>
  <body xml:lang='cs'>Pro&#x010D;e&#x017E; jsi ty, Romeo?</body>
  <thread parent='e0ffe42b28561960c6b12b944a092794b9683a38'>0e3141cd80894871a68e6fe6b1ec56fa</thread>
</message>
<presence from='romeo@example.net/orchard' xml:lang='en'>
  <show>dnd</show>
  <status>Wooing Juliet</status>
  <status xml:lang='cs'>Dvo&#x0159;&#x00ED;m se Julii</status>
  <priority>1</priority>
</presence>
<iq id='bv1bs71f' to='juliet@example.com/chamber' type='result'>
  <query xmlns='jabber:iq:roster' ver='ver11'>
    <item jid='romeo@example.net' name='Romeo' subscription='both'>
      <group>Friends</group>
    </item>
    <item jid='mercutio@example.com' name='Mercutio' subscription='from'/>
    <item jid='benvolio@example.net' name='Benvolio' subscription='none'/>
  </query>
</iq>
<iq from='im.example.com' id='s2c1' to='juliet@im.example.com/balcony' type='get'>
  <ping xmlns='urn:xmpp:ping'/>
</iq>
<stream:error>
  <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
  <text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>Replaced by new connection</text>
</stream:error>
</stream:stream>
"""

H = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

seeds = {
  # name: (control, payload, description)
  "session-4096-bytewise": (ctl(4096, None, 0, 1), SESSION,
     "whole server-to-client session (features/starttls, proceed, restart header, SASL mechanisms, challenge, success, restart header, bind result, message with subject/body/thread, presence with show/status, roster result, ping, stream error, close); 4096-byte buffer, default limits, 1..=3-byte chunks"),
  "session-512-mixed": (ctl(512, None, 3, 77), SESSION,
     "the same session in a 512-byte buffer (compaction), default limits, mixed chunks"),
  "session-limits": (ctl(1024, (8, 3, 12), 1, 300), SESSION,
     "the same session, 1024-byte buffer with custom limits (stanza 512 bytes, depth 8, 12 attributes), 1..=17-byte chunks"),
  "session-small-buffer": (ctl(200, None, 2, 5), SESSION,
     "the same session in a 200-byte buffer: the SASL features do not fit, policy-violation after the first restart"),
  "cdata": (ctl(1024, None, 0, 9), H +
     "<message><body><![CDATA[<b>bold</b> & ]] ]> not the end]]>after</body>"
     "<body><![CDATA[]]></body><x><![CDATA[a\r\nb\rc]]></x></message></stream:stream>",
     "CDATA sections: markup and ]] inside, empty section, CR/CRLF inside"),
  "entities": (ctl(1024, None, 1, 10), H +
     "<message to='a&amp;b&lt;&gt;&apos;&quot;' x='&#9;tab\tand\nnl\r\ncrlf'>"
     "<body>&lt;&amp;&gt;&apos;&quot; &#169; &#xA9; &#x1F600; &#1114111; line1\r\nline2\rline3</body>"
     "</message></stream:stream>",
     "predefined entities, decimal and hex character references, CR/LF normalization in text and attributes"),
  "prefixed": (ctl(2048, None, 2, 11),
     "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
     "xmlns:db='jabber:server:dialback' version='1.0'>"
     "<db:result from='a.example' to='b.example'>key</db:result>"
     "<db:verify from='a' to='b' id='i'/>"
     "<stream:features><x:y xmlns:x='urn:x' x:attr='v'><x:z xmlns:x='urn:other' xml:lang='de'/><w xmlns=''/></x:y></stream:features>"
     "<iq type='get'><q xmlns='urn:q' xmlns:p='urn:p'><p:a p:b='1'><p:c/></p:a></q></iq>"
     "</stream:stream>",
     "server-to-server stream with a stream-level db: prefix, prefixes declared and redeclared inside stanzas, prefixed attributes, xmlns=''"),
  "keepalive": (ctl(256, None, 3, 12), H +
     " \n\t\r\n <presence/>\n \n<message type='chat'><body>hi</body></message>  \r\n</stream:stream>\n \n",
     "whitespace keepalives between stanzas and after the close, 256-byte buffer"),
  "bom": (ctl(1024, None, 0, 13), b"\xef\xbb\xbf" + ("<?xml version='1.0' encoding='UTF-8'?>\n" + H + "<presence/></stream:stream>").encode(),
     "UTF-8 byte-order mark, XML declaration with encoding, header, one stanza"),
  "self-closed-stream": (ctl(512, None, 1, 14),
     "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='c.example'/>",
     "component stream (jabber:component:accept) closed in its own header: open then close"),
  "limits-deep": (ctl(512, (4, 2, 4), 0, 15), H +
     "<iq><a><b><c><d><e>deep</e></d></c></b></a></iq><message a='1' b='2' c='3'/>",
     "custom limits (stanza 128 bytes, depth 4, 4 attributes): nesting deeper than allowed"),
  "bad-comment": (ctl(1024, None, 0, 16), H + "<message><!-- hidden --><body>x</body></message>",
     "refused: a comment inside a stanza (restricted-xml)"),
  "bad-doctype": (ctl(1024, None, 1, 17), "<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY e 'x'>]>" + H,
     "refused: a DOCTYPE before the header (restricted-xml)"),
  "bad-unbound-prefix": (ctl(1024, None, 2, 18), H + "<message><foo:bar/></message>",
     "refused: an element with an undeclared prefix (not-well-formed)"),
  "bad-utf8": (ctl(1024, None, 3, 19), (H + "<message><body>caf").encode() + b"\xc3\x28 \xff\xfe</body></message>",
     "refused: invalid UTF-8 inside a body"),
  "bad-pi": (ctl(1024, None, 0, 20), H + "<message><?php echo 1; ?></message>",
     "refused: a processing instruction inside a stanza (restricted-xml)"),
  "bad-stream-text": (ctl(1024, None, 1, 21), H + "<presence/>stray text<presence/>",
     "refused: character data at stream level (bad-format)"),
}

os.makedirs(out, exist_ok=True)
lines = ["# Seed corpus of parse_stream", "",
         "Each file starts with the 6 control bytes the target reads (receive buffer size, limits, chunk mode and seed; see the top of `fuzz_targets/parse_stream.rs`), then the stream bytes.", ""]
for name, (c, payload, desc) in seeds.items():
    if isinstance(payload, str):
        payload = payload.encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(c + payload)
    lines.append(f"- `{name}`: {desc}.")
with open(os.path.join(out, "README.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print(len(seeds), "seeds")
