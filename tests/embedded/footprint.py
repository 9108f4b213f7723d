#!/usr/bin/env python3
"""The footprint report of picoxmpp on Cortex-M (thumbv7em-none-eabihf), from the ELF files
tests/embedded/footprint.sh builds: the firmware with and without TLS, and the core alone
(embedded-example/core-profile: a minimal client, opt-level "z", LTO).

Usage: footprint.py FIRMWARE_TLS_ELF FIRMWARE_PLAIN_ELF CORE_PROFILE_ELF [QEMU_RUN_LOG]
Reads sections with `size -A` and symbols with `nm -S -C`; the stack figures come from the
firmware's own log of a QEMU run (tests/embedded/run-qemu.sh), when one is given."""
import re
import subprocess
import sys

KIB = 1024


def sections(elf):
    out = subprocess.run(["size", "-A", elf], check=True, capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith("."):
            sizes[parts[0]] = int(parts[1])
    return sizes


def flash_ram(elf):
    s = sections(elf)
    # Flash holds the vector table, code, constants and the initial values of .data.
    flash = s.get(".vector_table", 0) + s.get(".text", 0) + s.get(".rodata", 0) + s.get(".data", 0)
    ram = s.get(".data", 0) + s.get(".bss", 0) + s.get(".uninit", 0)
    return flash, ram, s


# Which crate a symbol belongs to, by the first path of its demangled name ("<T as Trait>::f"
# counts for T's crate).
CRYPTO = {"sha1", "sha2", "hmac", "pbkdf2", "digest", "crypto_common", "block_buffer",
          "generic_array", "base64", "subtle", "md5", "cpufeatures"}
CORE_DEPS = {"nom", "memchr", "simdutf8", "heapless", "rand_core"}
RUST = {"core", "compiler_builtins", "alloc"}


def crate_of(name):
    name = name.lstrip("<&*")
    for prefix in ("mut ", "dyn ", "impl "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    return m.group(1) if m else None


def profile(elf):
    out = subprocess.run(["nm", "-S", "-C", "--size-sort", elf], check=True,
                         capture_output=True, text=True).stdout
    groups = {"picoxmpp": 0, "picoxmpp's non-crypto deps (nom, memchr, simdutf8, heapless)": 0,
              "crypto + base64 (sha1, hmac, pbkdf2, digest, base64, subtle)": 0,
              "Rust core + compiler_builtins (memcpy, str, fmt, net)": 0,
              "the profile's main (LTO inlined the client's loop into it)": 0,
              "startup, vectors, unnamed constants": 0}
    top = {}
    client_size = None
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        size, kind, name = int(parts[1], 16), parts[2], parts[3]
        if name == "PICOXMPP_CLIENT_SIZE_PROBE":
            client_size = size
            continue
        if kind not in "tTrR":
            continue
        crate = crate_of(name)
        if crate == "picoxmpp":
            key = "picoxmpp"
        elif crate in CORE_DEPS:
            key = "picoxmpp's non-crypto deps (nom, memchr, simdutf8, heapless)"
        elif crate in CRYPTO:
            key = "crypto + base64 (sha1, hmac, pbkdf2, digest, base64, subtle)"
        elif crate in RUST:
            key = "Rust core + compiler_builtins (memcpy, str, fmt, net)"
        elif crate == "picoxmpp_core_profile":
            key = "the profile's main (LTO inlined the client's loop into it)"
        else:
            key = "startup, vectors, unnamed constants"
        groups[key] += size
        top[name] = size
    return groups, top, client_size


def kib(n):
    return f"{n / KIB:6.1f} KiB"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    tls_elf, plain_elf, core_elf = sys.argv[1:4]
    log = open(sys.argv[4]).read() if len(sys.argv) > 4 else ""

    print("== Firmware (embedded-example, opt-level z, LTO, thumbv7em-none-eabihf) ==")
    print(f"{'build':<34}{'flash (text+rodata)':>22}{'RAM (data+bss)':>18}")
    for label, elf in (("with TLS (embedded-tls, defmt)", tls_elf),
                       ("without TLS (plaintext, size only)", plain_elf)):
        flash, ram, _ = flash_ram(elf)
        print(f"{label:<34}{kib(flash):>22}{kib(ram):>18}")
    peaks = {k: int(v) for k, v in re.findall(
        r"stack peak, ([^:]+): (\d+) bytes", log)}
    if peaks:
        for k, v in peaks.items():
            print(f"stack peak, {k}: {v} bytes")
        print("  (painted again before each phase, measured in the QEMU run; each figure is the depth")
        print("   from the top of RAM, the frames of main and of the session, the Client's included)")
    else:
        print("stack peak: not measured here (run tests/embedded/run-qemu.sh, which logs it)")
    print("stack peak without TLS: not measured (the plaintext build cannot log in to the "
          "TLS-only test server)")
    m = re.search(r"firmware run under QEMU: ([\d.]+) s", log)
    n = re.search(r"done: (\d+) readings reported", log)
    if m:
        print(f"QEMU session, boot to exit ({n.group(1) if n else '?'} readings): {m.group(1)} s")

    print()
    print("== The core alone (core-profile: SCRAM-SHA-1, bind, presence, message, iq; opt-level z, LTO) ==")
    print("   picoxmpp features: default-features = false (no scram-sha256/512, no stream-management,")
    print("   no ip-literal-domains) + small (the XML scanner not forced inline)")
    flash, ram, _ = flash_ram(core_elf)
    groups, top, client_size = profile(core_elf)
    for k, v in groups.items():
        print(f"  {k:<66}{kib(v)}")
    crypto = groups["crypto + base64 (sha1, hmac, pbkdf2, digest, base64, subtle)"]
    print(f"  {'total flash (with vector table)':<66}{kib(flash)}   target <= 32 KiB")
    print(f"  {'total flash without the crypto + base64 crates':<66}{kib(flash - crypto)}   target <= 16 KiB")
    print("  (symbols are attributed by crate; LTO inlines across crates, so code of one crate")
    print("   can sit inside another's function, the profile's main above all)")
    print("  largest symbols:")
    for name, size in sorted(top.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {size:6d}  {name[:100]}")
    print()
    print(f"size_of::<Client>() on thumbv7em: {client_size} bytes   target <= 1024 bytes "
          "(besides the caller's buffers)")
    print("receive buffer of the firmware: 2048 bytes (a whole session against Prosody runs in it: "
          "tests/embedded/run-qemu.sh)")
    print("For comparison (issue 5): a minimal C client (xmpp.c + yxml, fewer features) ~10.5 KiB; "
          "libstrophe without TLS ~104 KB of text on x86-64.")


if __name__ == "__main__":
    main()
