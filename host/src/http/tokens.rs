//! Access tokens: HS256 JWTs with `{"sub": username, "exp": seconds}`, as
//! Python pylantir (python-jose) issues them, so its tokens stay valid here
//! under the same `JWT_SECRET_KEY`. A token without `exp` is refused.
//!
//! The secret is `JWT_SECRET_KEY`, else a random one generated on first use
//! and kept with mode 0600 in [`SECRET_FILE`] next to the users database.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file beside the users database that keeps a generated secret.
pub const SECRET_FILE: &str = "pylantir-jwt-secret";

/// The environment variable Python pylantir reads the secret from.
pub const SECRET_ENV: &str = "JWT_SECRET_KEY";

/// The claims of a token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
}

/// Issues and checks tokens with one secret.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    /// Keys for this secret.
    pub fn new(secret: &[u8]) -> Keys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `username`, valid for `lifetime`.
    pub fn issue(&self, username: &str, lifetime: Duration) -> Result<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("system clock before 1970: {e}"))?;
        let claims = Claims {
            sub: username.to_string(),
            exp: (now + lifetime).as_secs(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign a token: {e}"))
    }

    /// The username of a valid, unexpired token; `None` for anything else.
    pub fn check(&self, token: &str) -> Option<String> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims.sub)
    }
}

/// The secret: `JWT_SECRET_KEY` when set and not empty, else the generated
/// one beside `users_db` (created on first use, mode 0600).
pub fn load_secret(users_db: &Path) -> Result<Vec<u8>, String> {
    if let Some(secret) = std::env::var_os(SECRET_ENV).filter(|s| !s.is_empty()) {
        return Ok(secret.into_encoded_bytes());
    }
    let path = secret_path(users_db);
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => {
            return Err(format!(
                "{} holds fewer than 32 bytes: delete it to generate a new secret \
                 (every issued token becomes invalid) or set {SECRET_ENV}",
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    if let Err(e) = write_private(&path, secret.as_bytes()) {
        // Another pylantir process created it first: use theirs.
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return std::fs::read(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
        }
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    log::info!(
        "generated the token secret {} (set {SECRET_ENV} to share one with Python pylantir)",
        path.display()
    );
    Ok(secret.into_bytes())
}

/// Where the generated secret of `users_db` lives.
pub fn secret_path(users_db: &Path) -> PathBuf {
    users_db
        .parent()
        .map(|dir| dir.join(SECRET_FILE))
        .unwrap_or_else(|| PathBuf::from(SECRET_FILE))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_without_exp_is_refused() {
        let keys = Keys::new(b"k");
        let no_exp = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "admin"}),
            &EncodingKey::from_secret(b"k"),
        )
        .expect("token");
        assert_eq!(keys.check(&no_exp), None);
        let good = keys.issue("admin", Duration::from_secs(60)).expect("token");
        assert_eq!(keys.check(&good).as_deref(), Some("admin"));
    }
}
