//! What the tests of the receiving side share: a deterministic RNG and
//! the accounts alice/alice-pass and bob/bob-pass as SCRAM stored keys.

use picoxmpp::sasl::scram::HashFunction;
use picoxmpp::sasl::scram_server::StoredKeys;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A deterministic RNG.
pub struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^ (z >> 27)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.iter_mut().for_each(|b| *b = self.next_u32() as u8);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for TestRng {}

/// alice/alice-pass and bob/bob-pass, keys for SHA-1 and SHA-256, derived
/// once.
pub fn keys() -> &'static HashMap<(String, HashFunction), StoredKeys> {
    static KEYS: OnceLock<HashMap<(String, HashFunction), StoredKeys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut m = HashMap::new();
        for user in ["alice", "bob"] {
            for hash in [HashFunction::Sha1, HashFunction::Sha256] {
                if !hash.is_supported() {
                    continue;
                }
                let salt = format!("salt-of-{user}");
                let k = StoredKeys::derive(hash, &format!("{user}-pass"), salt.as_bytes(), 4096)
                    .unwrap();
                m.insert((user.to_string(), hash), k);
            }
        }
        m
    })
}
