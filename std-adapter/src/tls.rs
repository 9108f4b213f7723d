//! TLS for the connection: what to trust, the rustls handshake on the TCP
//! stream (STARTTLS upgrade in place, RFC 6120 §5.4.3.3, or direct TLS,
//! XEP-0368), and the channel-binding data the core's SCRAM-*-PLUS needs
//! (RFC 9266, RFC 5929).
//!
//! No XMPP here: the core decides when TLS starts and which channel
//! binding to use; this module only runs rustls and reads its results.

use crate::error::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::Digest;
use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant as StdInstant;

/// The ALPN protocol of XEP-0368 §3 for client-to-server direct TLS.
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// How the connection protects itself: which certificates it trusts, the
/// name it checks, and whether TLS starts with STARTTLS or at once.
///
/// The default ([`TlsSettings::new`]) verifies the server's certificate
/// against Mozilla's roots (the `webpki-roots` crate) for the account's
/// domain, and upgrades with STARTTLS. A private server's CA is added with
/// [`add_ca_file`](Self::add_ca_file); verification is only ever turned
/// off by [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs),
/// never as a fallback.
#[derive(Clone)]
pub struct TlsSettings {
    roots: RootCertStore,
    server_name: Option<String>,
    direct: bool,
    accept_invalid_certs: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("roots", &self.roots.len())
            .field("server_name", &self.server_name)
            .field("direct", &self.direct)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl TlsSettings {
    /// Mozilla's roots, the account's domain as the name to verify,
    /// STARTTLS.
    pub fn new() -> Self {
        TlsSettings {
            roots: RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            server_name: None,
            direct: false,
            accept_invalid_certs: false,
        }
    }

    /// Trusts the CA certificates of a PEM file too (a private server's
    /// own CA). Fails if the file cannot be read, is not PEM, or holds no
    /// certificate.
    pub fn add_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            Error::Config(format!("cannot read the CA file {}: {e}", path.display()))
        })?;
        self.add_ca_pem(&pem).map_err(|e| match e {
            Error::Config(what) => Error::Config(format!("{}: {what}", path.display())),
            other => other,
        })
    }

    /// Trusts the CA certificates of a PEM text too. Fails if it holds no
    /// certificate or one that cannot be a trust anchor.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| Error::Config(format!("bad PEM in the CA certificates: {e}")))?;
            self = self.add_ca_der(cert)?;
            found += 1;
        }
        if found == 0 {
            return Err(Error::Config(
                "no certificate in the CA certificates".to_owned(),
            ));
        }
        Ok(self)
    }

    /// Trusts one CA certificate (DER) too.
    pub fn add_ca_der(mut self, der: CertificateDer<'_>) -> Result<Self, Error> {
        self.roots
            .add(der)
            .map_err(|e| Error::Config(format!("unusable CA certificate: {e}")))?;
        Ok(self)
    }

    /// Trusts only the CAs added with the `add_ca_*` methods, not Mozilla's
    /// roots (a closed deployment with its own CA).
    pub fn without_public_roots(mut self) -> Self {
        self.roots = RootCertStore::empty();
        self
    }

    /// Verifies the certificate for `name` instead of the account's domain
    /// (tests against `localhost`; a server whose certificate names a
    /// host rather than the XMPP domain is better served by a CA that
    /// issues the right name).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Starts TLS at once, before any XMPP (XEP-0368: the port a `_xmpps-
    /// client` SRV record names), with ALPN `xmpp-client`. The connection
    /// sets [`Config::tls`](picoxmpp::client::Config::tls) to
    /// [`TlsPolicy::Direct`](picoxmpp::client::TlsPolicy::Direct).
    pub fn direct_tls(mut self) -> Self {
        self.direct = true;
        self
    }

    /// Whether TLS starts at once (XEP-0368) rather than with STARTTLS.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// DANGER: accepts any certificate for any name, so anyone on the path
    /// can read and change the stream, password exchange included. The
    /// handshake signatures are still checked, which proves nothing about
    /// who holds the key. Only for throwaway test servers; a private
    /// server's CA belongs in [`add_ca_file`](Self::add_ca_file).
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.accept_invalid_certs = true;
        self
    }

    /// The rustls configuration and server name for a connection to an
    /// account on `domain`.
    pub(crate) fn client_config(
        &self,
        domain: &str,
    ) -> Result<(Arc<ClientConfig>, ServerName<'static>), Error> {
        let name = self.server_name.as_deref().unwrap_or(domain);
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| Error::Config(format!("{name:?} is not a valid TLS server name")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?;
        let mut config = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth()
        };
        if self.direct {
            config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
        }
        Ok((Arc::new(config), name))
    }
}

/// The verifier behind [`TlsSettings::danger_accept_invalid_certs`].
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Runs the client side of the handshake on `tcp` until it is done or
/// `deadline` passes.
pub(crate) fn handshake(
    tcp: &mut TcpStream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    deadline: StdInstant,
) -> Result<ClientConnection, Error> {
    let mut tls = ClientConnection::new(config, name).map_err(Error::Tls)?;
    while tls.is_handshaking() {
        let left = deadline
            .checked_duration_since(StdInstant::now())
            .filter(|d| !d.is_zero())
            .ok_or(Error::Timeout("the TLS handshake"))?;
        tcp.set_read_timeout(Some(left)).map_err(Error::Io)?;
        tcp.set_write_timeout(Some(left)).map_err(Error::Io)?;
        match tls.complete_io(tcp) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Err(Error::Timeout("the TLS handshake")),
            Err(e) => return Err(Error::from_io(e)),
        }
    }
    // The connection sets the read timeout before each read; writes block.
    tcp.set_write_timeout(None).map_err(Error::Io)?;
    Ok(tls)
}

/// Whether an I/O error is a socket timeout (`WouldBlock` on Unix,
/// `TimedOut` on Windows).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The label of RFC 9266 §2.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Channel-binding data of an established TLS session, owned, to pass to
/// [`Client::tls_established`](picoxmpp::client::Client::tls_established).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// `tls-exporter` (RFC 9266): 32 bytes, TLS 1.3 only.
    pub exporter: Option<[u8; 32]>,
    /// `tls-server-end-point` (RFC 5929 §4.1): the hash of the server's
    /// certificate, when its signature algorithm defines one.
    pub server_end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// What `tls` can give: `tls-exporter` under TLS 1.3 only (RFC 9266
    /// §3: with TLS 1.2 it is safe only with extended master secret, which
    /// rustls does not expose), `tls-server-end-point` from the server's
    /// end-entity certificate.
    pub fn of(tls: &ClientConnection) -> Self {
        let exporter = match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => tls
                .export_keying_material([0u8; 32], EXPORTER_LABEL, None)
                .ok(),
            _ => None,
        };
        let server_end_point = tls
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| server_end_point(cert));
        ChannelBindings {
            exporter,
            server_end_point,
        }
    }

    /// The core's view of this data.
    pub fn as_binding(&self) -> picoxmpp::client::TlsBinding<'_> {
        use picoxmpp::client::TlsBinding;
        match (&self.exporter, &self.server_end_point) {
            (Some(e), Some(s)) => TlsBinding::Both {
                exporter: e,
                server_end_point: s,
            },
            (Some(e), None) => TlsBinding::Exporter(e),
            (None, Some(s)) => TlsBinding::ServerEndPoint(s),
            (None, None) => TlsBinding::None,
        }
    }
}

/// The hash functions `tls-server-end-point` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// `tls-server-end-point` data (RFC 5929 §4.1): the hash of the
/// certificate's DER with the hash of its signature algorithm, SHA-256 when
/// that is MD5 or SHA-1. `None` when the algorithm names no single hash
/// (EdDSA, unknown algorithms) or the certificate cannot be read: no data
/// is better than wrong data, which would fail SCRAM-*-PLUS.
pub fn server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let hash = certificate_hash(cert_der)?;
    Some(match hash {
        CertHash::Sha224 => sha2::Sha224::digest(cert_der).to_vec(),
        CertHash::Sha256 => sha2::Sha256::digest(cert_der).to_vec(),
        CertHash::Sha384 => sha2::Sha384::digest(cert_der).to_vec(),
        CertHash::Sha512 => sha2::Sha512::digest(cert_der).to_vec(),
    })
}

/// The hash `tls-server-end-point` uses for this certificate: from the
/// `signatureAlgorithm` of `Certificate ::= SEQUENCE { tbsCertificate,
/// signatureAlgorithm, signatureValue }` (RFC 5280 §4.1).
fn certificate_hash(cert_der: &[u8]) -> Option<CertHash> {
    let (TAG_SEQUENCE, cert, _) = der_tlv(cert_der)? else {
        return None;
    };
    let (TAG_SEQUENCE, _tbs, rest) = der_tlv(cert)? else {
        return None;
    };
    let (TAG_SEQUENCE, algorithm, _) = der_tlv(rest)? else {
        return None;
    };
    let (TAG_OID, oid, params) = der_tlv(algorithm)? else {
        return None;
    };
    match oid {
        // md5/sha1/sha256WithRSAEncryption (RFC 4055 §5, RFC 3279 §2.2.1).
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04 | 0x05 | 0x0b] => {
            Some(CertHash::Sha256)
        }
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c] => Some(CertHash::Sha384),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d] => Some(CertHash::Sha512),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0e] => Some(CertHash::Sha224),
        // RSASSA-PSS (RFC 4055 §3.1): the hash is in the parameters.
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a] => pss_hash(params),
        // ecdsa-with-SHA1, -SHA224, -SHA256, -SHA384, -SHA512 (RFC 5758
        // §3.2, RFC 3279 §2.2.3).
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => Some(CertHash::Sha256),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01] => Some(CertHash::Sha224),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02] => Some(CertHash::Sha256),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03] => Some(CertHash::Sha384),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04] => Some(CertHash::Sha512),
        _ => None,
    }
}

/// The hash of RSASSA-PSS parameters (RFC 4055 §3.1): `[0] hashAlgorithm`,
/// SHA-1 by default (so SHA-256 here).
fn pss_hash(params: &[u8]) -> Option<CertHash> {
    let (TAG_SEQUENCE, params, _) = der_tlv(params)? else {
        return None;
    };
    let Some((0xa0, hash, _)) = der_tlv(params) else {
        return Some(CertHash::Sha256);
    };
    let (TAG_SEQUENCE, hash, _) = der_tlv(hash)? else {
        return None;
    };
    let (TAG_OID, oid, _) = der_tlv(hash)? else {
        return None;
    };
    match oid {
        // id-sha1 (1.3.14.3.2.26).
        [0x2b, 0x0e, 0x03, 0x02, 0x1a] => Some(CertHash::Sha256),
        // id-sha256, -sha384, -sha512, -sha224 (2.16.840.1.101.3.4.2.x).
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, n] => match n {
            1 => Some(CertHash::Sha256),
            2 => Some(CertHash::Sha384),
            3 => Some(CertHash::Sha512),
            4 => Some(CertHash::Sha224),
            _ => None,
        },
        _ => None,
    }
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;

/// One DER tag-length-value at the start of `input`: the tag, the value,
/// and what follows. `None` for a truncated or non-DER length.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form: the low bits count the length bytes (X.690 §8.1.3.5);
        // 0 is the indefinite form DER forbids.
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |l, &b| (l << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    Some((tag, value, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate skeleton with `algorithm` (an AlgorithmIdentifier's
    /// contents) as its signature algorithm.
    fn cert_with(algorithm: &[u8]) -> Vec<u8> {
        fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            if value.len() < 0x80 {
                v.push(value.len() as u8);
            } else {
                v.extend([0x82, (value.len() >> 8) as u8, value.len() as u8]);
            }
            v.extend(value);
            v
        }
        let tbs = tlv(TAG_SEQUENCE, &[0x02; 200]);
        let alg = tlv(TAG_SEQUENCE, algorithm);
        let sig = tlv(0x03, &[0x00, 0x01]);
        tlv(TAG_SEQUENCE, &[tbs, alg, sig].concat())
    }

    #[test]
    fn server_end_point_hash_follows_the_signature_algorithm() {
        let ecdsa_256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let ecdsa_384 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let rsa_sha1 = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ];
        let rsa_sha512 = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
        ];
        let ed25519 = [0x06, 0x03, 0x2b, 0x65, 0x70];
        assert_eq!(
            certificate_hash(&cert_with(&ecdsa_256)),
            Some(CertHash::Sha256)
        );
        assert_eq!(
            certificate_hash(&cert_with(&ecdsa_384)),
            Some(CertHash::Sha384)
        );
        // RFC 5929 §4.1: SHA-1 becomes SHA-256.
        assert_eq!(
            certificate_hash(&cert_with(&rsa_sha1)),
            Some(CertHash::Sha256)
        );
        assert_eq!(
            certificate_hash(&cert_with(&rsa_sha512)),
            Some(CertHash::Sha512)
        );
        // EdDSA names no hash: no data rather than a guess.
        assert_eq!(certificate_hash(&cert_with(&ed25519)), None);
        let cert = cert_with(&ecdsa_384);
        assert_eq!(
            server_end_point(&cert),
            Some(sha2::Sha384::digest(&cert).to_vec())
        );
    }

    #[test]
    fn pss_hash_comes_from_the_parameters() {
        let pss = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ];
        // Parameters: SEQUENCE { [0] SEQUENCE { id-sha384 } }.
        let sha384 = [
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        ];
        let alg_id = [&[0x30, sha384.len() as u8][..], &sha384].concat();
        let explicit = [&[0xa0, alg_id.len() as u8][..], &alg_id].concat();
        let params = [&[0x30, explicit.len() as u8][..], &explicit].concat();
        let with_sha384 = [&pss[..], &params].concat();
        assert_eq!(
            certificate_hash(&cert_with(&with_sha384)),
            Some(CertHash::Sha384)
        );
        // Empty parameters: the SHA-1 default, so SHA-256.
        let default = [&pss[..], &[0x30, 0x00]].concat();
        assert_eq!(
            certificate_hash(&cert_with(&default)),
            Some(CertHash::Sha256)
        );
    }

    #[test]
    fn truncated_certificates_give_no_binding() {
        let cert = cert_with(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
        for n in 0..cert.len() {
            assert_eq!(certificate_hash(&cert[..n]), None, "{n} bytes");
        }
        assert_eq!(certificate_hash(&[0x30, 0x80, 0x00, 0x00]), None);
    }
}
