//! The accounts of the built-in server: a text file of SCRAM stored keys
//! (RFC 5802 §3), never passwords.
//!
//! One account a line: the username, then one field per hash,
//! `sha1:ITERATIONS:SALT:STOREDKEY:SERVERKEY` (and `sha256:...`), the
//! binary values in base64. `#` starts a comment line.
//!
//! ```text
//! alice sha1:4096:c2FsdA==:...:... sha256:4096:c2FsdA==:...:...
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use picoxmpp::sasl::scram::HashFunction;
use picoxmpp::sasl::scram_server::StoredKeys;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// The hashes stored for each account: what the server offers.
pub const HASHES: [HashFunction; 2] = [HashFunction::Sha1, HashFunction::Sha256];

/// The accounts, by username.
#[derive(Debug, Clone, Default)]
pub struct AccountStore {
    accounts: HashMap<String, Vec<StoredKeys>>,
}

impl AccountStore {
    /// No accounts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads an accounts file.
    pub fn load(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Parses the text of an accounts file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut store = Self::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let user = fields.next().unwrap_or_default();
            let keys = fields
                .map(parse_keys)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("line {}: {e}", no + 1))?;
            if keys.is_empty() {
                return Err(format!("line {}: no keys for {user:?}", no + 1));
            }
            store.accounts.insert(user.to_owned(), keys);
        }
        Ok(store)
    }

    /// Adds (or replaces) `user` with keys derived from `password`, a
    /// fresh random salt and `iterations`, for every hash of [`HASHES`].
    pub fn add(&mut self, user: &str, password: &str, iterations: u32) -> Result<(), String> {
        picoxmpp::jid::JidBuf::<1100>::from_parts(Some(user), "localhost", None)
            .map_err(|e| format!("{user:?} is not a valid localpart: {e:?}"))?;
        let mut keys = Vec::new();
        for hash in HASHES {
            let mut salt = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
            keys.push(
                StoredKeys::derive(hash, password, &salt, iterations).map_err(|e| e.to_string())?,
            );
        }
        self.accounts.insert(user.to_owned(), keys);
        Ok(())
    }

    /// Whether `user` exists.
    pub fn contains(&self, user: &str) -> bool {
        self.accounts.contains_key(user)
    }

    /// The keys of `user` for `hash`.
    pub fn keys(&self, user: &str, hash: HashFunction) -> Option<StoredKeys> {
        self.accounts
            .get(user)?
            .iter()
            .find(|k| k.hash() == hash)
            .cloned()
    }

    /// The text of the file, accounts sorted by name.
    pub fn to_text(&self) -> String {
        let mut users: Vec<_> = self.accounts.keys().collect();
        users.sort();
        let mut out = String::from("# picoxmpp accounts: SCRAM stored keys (RFC 5802 §3)\n");
        for user in users {
            out.push_str(user);
            for k in &self.accounts[user] {
                let _ = write!(
                    out,
                    " {}:{}:{}:{}:{}",
                    hash_name(k.hash()),
                    k.iterations(),
                    B64.encode(k.salt()),
                    B64.encode(k.stored_key()),
                    B64.encode(k.server_key())
                );
            }
            out.push('\n');
        }
        out
    }

    /// Writes the file (readable by its owner only, on Unix).
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_text())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
}

fn hash_name(h: HashFunction) -> &'static str {
    match h {
        HashFunction::Sha1 => "sha1",
        HashFunction::Sha256 => "sha256",
        _ => "sha512",
    }
}

fn parse_keys(field: &str) -> Result<StoredKeys, String> {
    let parts: Vec<&str> = field.split(':').collect();
    let [hash, iterations, salt, stored, server] = parts[..] else {
        return Err(format!(
            "{field:?} is not hash:iterations:salt:storedkey:serverkey"
        ));
    };
    let hash = match hash {
        "sha1" => HashFunction::Sha1,
        "sha256" => HashFunction::Sha256,
        "sha512" => HashFunction::Sha512,
        other => return Err(format!("unknown hash {other:?}")),
    };
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| format!("bad iteration count {iterations:?}"))?;
    let b64 = |s: &str| B64.decode(s).map_err(|e| format!("bad base64 {s:?}: {e}"));
    StoredKeys::new(hash, &b64(salt)?, iterations, &b64(stored)?, &b64(server)?)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_verification() {
        let mut store = AccountStore::new();
        store.add("alice", "alice-pass", 4096).unwrap();
        let text = store.to_text();
        assert!(text.contains("alice sha1:4096:") && text.contains(" sha256:4096:"));
        assert!(!text.contains("alice-pass"));
        let back = AccountStore::parse(&text).unwrap();
        for hash in HASHES {
            let k = back.keys("alice", hash).unwrap();
            assert!(k.verify_password("alice-pass"));
            assert!(!k.verify_password("bob-pass"));
        }
        assert!(back.keys("bob", HashFunction::Sha1).is_none());
        assert!(AccountStore::parse("alice sha1:10:AA==:AA==:AA==").is_err());
        assert!(AccountStore::parse("alice").is_err());
        assert!(store.add("a@b", "x", 4096).is_err());
    }
}
