//! Puts memory.x where the linker finds it, builds the server CA into the
//! image, and draws the RNG seed of this image.
use std::{env, fs, io::Read, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy("memory.x", out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    // defmt's symbols (the log strings are indices into the ELF).
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");

    // The CA the server certificate must chain to (PEM or DER), e.g. the
    // ECDSA P-256 certificate tests/interop/servers-up.sh makes.
    println!("cargo:rerun-if-env-changed=PICOXMPP_FW_CA");
    let ca = match env::var_os("PICOXMPP_FW_CA") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.to_string_lossy());
            let bytes = fs::read(&path)
                .unwrap_or_else(|e| panic!("PICOXMPP_FW_CA={}: {e}", path.to_string_lossy()));
            pem_to_der(&bytes)
        }
        None => {
            if env::var_os("CARGO_FEATURE_TLS").is_some() {
                // Lints and size checks need no CA; such an image refuses
                // to start TLS.
                println!(
                    "cargo:warning=PICOXMPP_FW_CA is not set: this image trusts no CA and will \
                     refuse TLS (set it to e.g. /tmp/picoxmpp-servers/certs/localhost.crt)"
                );
            }
            Vec::new()
        }
    };
    fs::write(out.join("ca.der"), ca).unwrap();

    // No entropy source exists on the emulated board: the RNG seed is drawn
    // here, at build time, so every image has its own but every boot of one
    // image repeats it. See the RNG section of README.md.
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("/dev/urandom");
    fs::write(out.join("seed.bin"), seed).unwrap();

    for var in [
        "PICOXMPP_FW_JID",
        "PICOXMPP_FW_PASSWORD",
        "PICOXMPP_FW_WATCHER",
        "PICOXMPP_FW_READINGS",
        "PICOXMPP_FW_INTERVAL_MS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}

/// The DER bytes of the first certificate of a PEM file (a DER file is
/// returned as is).
fn pem_to_der(bytes: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        return bytes.to_vec();
    };
    let body = &text[start + "-----BEGIN CERTIFICATE-----".len()..];
    let body = &body[..body
        .find("-----END CERTIFICATE-----")
        .expect("PEM end line")];
    let b64: String = body.split_whitespace().collect();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 in the CA PEM")
}
