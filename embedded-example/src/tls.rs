//! TLS 1.3 by embedded-tls over the UART, verifying the server certificate
//! against the CA built into the image (`PICOXMPP_FW_CA` at build time).

use crate::uart::{self, Uart};
use embedded_tls::blocking::{
    Aes128GcmSha256, CryptoProvider, MaxFragmentLength, TlsConfig, TlsConnection, TlsContext,
    TlsError, TlsVerifier,
};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{Certificate, NoClock};
use rand_chacha::ChaCha20Rng;

/// The CA certificate (DER), built in.
static CA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ca.der"));

/// Largest server certificate the verifier keeps (DER bytes).
const MAX_CERT: usize = 1024;

/// What embedded-tls needs: the RNG for the key share and the verifier.
/// The board has no real-time clock, so certificate validity dates are
/// not checked ([`NoClock`]); the signature chain and the host name are.
struct Provider<'a> {
    rng: &'a mut ChaCha20Rng,
    verifier: CertVerifier<'a, Aes128GcmSha256, NoClock, MAX_CERT>,
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = p256::ecdsa::DerSignature;

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// The TLS stream, with what the driver needs to know whether a read would
/// block: decrypted bytes left over, or ciphertext waiting in the UART.
pub struct TlsStream<'a> {
    tls: TlsConnection<'a, Uart, Aes128GcmSha256>,
    /// The last read filled the caller's buffer: more decrypted bytes may
    /// wait inside embedded-tls.
    more: bool,
}

/// Runs the TLS handshake for `server_name` over `uart`, in the record
/// buffers given.
pub fn connect<'a>(
    uart: Uart,
    server_name: &str,
    rng: &mut ChaCha20Rng,
    read_buf: &'a mut [u8],
    write_buf: &'a mut [u8],
) -> Result<TlsStream<'a>, TlsError> {
    if CA.is_empty() {
        defmt::error!("no CA built into this image: build it with PICOXMPP_FW_CA set");
        return Err(TlsError::InvalidCertificate);
    }
    // RFC 6066 §4: records of at most 2 KiB, so the read buffer need not
    // hold the 16 KiB records TLS allows otherwise (embedded-tls warns
    // about the smaller buffer all the same).
    let config = TlsConfig::new()
        .with_server_name(server_name)
        .with_max_fragment_length(MaxFragmentLength::Bits11);
    let mut tls = TlsConnection::new(uart, read_buf, write_buf);
    tls.open(TlsContext::new(
        &config,
        Provider {
            rng,
            verifier: CertVerifier::new(Certificate::X509(CA)),
        },
    ))?;
    Ok(TlsStream { tls, more: false })
}

impl embedded_io::ErrorType for TlsStream<'_> {
    type Error = TlsError;
}

impl embedded_io::ReadReady for TlsStream<'_> {
    fn read_ready(&mut self) -> Result<bool, TlsError> {
        // embedded-tls reads exactly one record at a time, so ciphertext
        // not yet read is still in the UART.
        Ok(self.more || uart::rx_ready())
    }
}

impl embedded_io::Read for TlsStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        let n = self.tls.read(buf)?;
        self.more = n == buf.len();
        Ok(n)
    }
}

impl embedded_io::Write for TlsStream<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.tls.write(buf)
    }

    /// One TLS record per unit the core hands out.
    fn flush(&mut self) -> Result<(), TlsError> {
        self.tls.flush()
    }
}
