//! The four SCRAM messages (RFC 5802 §7) as text, parsed strictly and formatted exactly, for
//! the server ([`crate::scram`]) and the client ([`crate::client`]):
//!
//! ```text
//! client-first  n,[a=<authzid>],n=<saslname>,r=<client nonce>[,<ext>=<value>]*
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=<base64 gs2 header>,r=<nonce>[,<ext>]*,p=<base64 proof>
//! server-final  v=<base64 signature> | e=<error>
//! ```
//!
//! A `saslname` escapes `,` as `=2C` and `=` as `=3D`; a nonce is printable ASCII without `,`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Why a SCRAM message could not be parsed; the text is for logs, peers get Kafka's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SCRAM message: {0}")]
pub struct ScramMessageError(pub String);

type Result<T> = std::result::Result<T, ScramMessageError>;

fn bad<T>(what: impl Into<String>) -> Result<T> {
    Err(ScramMessageError(what.into()))
}

/// The client's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 header (`n,,` or `n,a=<authzid>,`), echoed base64 in the client-final `c=`.
    pub gs2_header: String,
    /// The authorization id (unescaped), empty if absent.
    pub authzid: String,
    /// The user name (unescaped).
    pub username: String,
    /// The client nonce.
    pub nonce: String,
    /// Extensions after the nonce (Kafka's `tokenauth=true`).
    pub extensions: BTreeMap<String, String>,
    /// The message without its GS2 header, part of the AuthMessage.
    pub bare: String,
}

/// The server's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    /// The client nonce followed by the server nonce.
    pub nonce: String,
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
}

/// The client's final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The base64 channel binding (`biws` for `n,,`).
    pub channel_binding: String,
    /// The combined nonce.
    pub nonce: String,
    /// The client proof (decoded).
    pub proof: Vec<u8>,
    /// The message up to and without `,p=...`, part of the AuthMessage.
    pub without_proof: String,
}

/// The server's final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFinal {
    /// `v=`: the server signature.
    Verifier(Vec<u8>),
    /// `e=`: the server's error.
    Error(String),
}

/// Escapes a user name as a `saslname`.
pub fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Unescapes a `saslname`; any `=` not starting `=2C` or `=3D` is an error, as is `,`.
pub fn unescape_saslname(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['=', ',']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return bad("badly escaped saslname");
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    if out.is_empty() || out.contains('\0') {
        return bad("empty saslname");
    }
    Ok(out)
}

/// Whether `s` is a valid nonce: printable ASCII except `,`, not empty.
pub fn is_valid_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The value of `attr=` at the start of `field`.
fn attr<'a>(field: &'a str, name: &str) -> Result<&'a str> {
    field
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('='))
        .map_or_else(|| bad(format!("expected {name}=")), Ok)
}

/// Parses extensions `key=value` (keys alphabetic) from `fields`.
fn extensions<'a>(fields: impl Iterator<Item = &'a str>) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for f in fields {
        let (k, v) = f
            .split_once('=')
            .map_or_else(|| bad("extension without ="), Ok)?;
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) {
            return bad("bad extension name");
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

impl ClientFirst {
    /// Parses a client-first message (GS2 flag `n` only: Kafka supports no channel binding).
    pub fn parse(msg: &str) -> Result<Self> {
        let mut parts = msg.splitn(3, ',');
        let (flag, authz, bare) = match (parts.next(), parts.next(), parts.next()) {
            (Some(f), Some(a), Some(b)) => (f, a, b),
            _ => return bad("missing GS2 header"),
        };
        match flag {
            "n" => {}
            f if f.starts_with("p=") => return bad("channel binding is not supported"),
            _ => return bad("bad GS2 channel binding flag"),
        }
        let authzid = if authz.is_empty() {
            String::new()
        } else {
            unescape_saslname(attr(authz, "a")?)?
        };
        let mut fields = bare.split(',');
        let username = unescape_saslname(attr(fields.next().unwrap_or(""), "n")?)?;
        let nonce = attr(fields.next().unwrap_or(""), "r")?;
        if !is_valid_nonce(nonce) {
            return bad("bad client nonce");
        }
        Ok(ClientFirst {
            gs2_header: format!("{flag},{authz},"),
            authzid,
            username,
            nonce: nonce.to_string(),
            extensions: extensions(fields)?,
            bare: bare.to_string(),
        })
    }

    /// Formats a client-first message for `username` (no authzid, no extensions).
    pub fn new(username: &str, nonce: &str) -> Self {
        let bare = format!("n={},r={nonce}", escape_saslname(username));
        ClientFirst {
            gs2_header: "n,,".into(),
            authzid: String::new(),
            username: username.to_string(),
            nonce: nonce.to_string(),
            extensions: BTreeMap::new(),
            bare,
        }
    }

    /// The message as sent.
    pub fn to_text(&self) -> String {
        format!("{}{}", self.gs2_header, self.bare)
    }
}

impl ServerFirst {
    /// Parses a server-first message (the client side).
    pub fn parse(msg: &str) -> Result<Self> {
        let mut fields = msg.split(',');
        if msg.starts_with("m=") {
            return bad("mandatory extension");
        }
        let nonce = attr(fields.next().unwrap_or(""), "r")?;
        let salt = B64
            .decode(attr(fields.next().unwrap_or(""), "s")?)
            .map_err(|_| ScramMessageError("bad salt".into()))?;
        let iterations = attr(fields.next().unwrap_or(""), "i")?
            .parse::<u32>()
            .map_err(|_| ScramMessageError("bad iteration count".into()))?;
        if !is_valid_nonce(nonce) || salt.is_empty() {
            return bad("bad nonce or salt");
        }
        Ok(ServerFirst {
            nonce: nonce.to_string(),
            salt,
            iterations,
        })
    }

    /// The message as sent.
    pub fn to_text(&self) -> String {
        format!(
            "r={},s={},i={}",
            self.nonce,
            B64.encode(&self.salt),
            self.iterations
        )
    }
}

impl ClientFinal {
    /// Parses a client-final message.
    pub fn parse(msg: &str) -> Result<Self> {
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .map_or_else(|| bad("missing proof"), Ok)?;
        let mut fields = without_proof.split(',');
        let channel_binding = attr(fields.next().unwrap_or(""), "c")?;
        let nonce = attr(fields.next().unwrap_or(""), "r")?;
        extensions(fields)?;
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramMessageError("bad proof".into()))?;
        Ok(ClientFinal {
            channel_binding: channel_binding.to_string(),
            nonce: nonce.to_string(),
            proof,
            without_proof: without_proof.to_string(),
        })
    }

    /// The part before the proof for `gs2_header` and `nonce`.
    pub fn without_proof(gs2_header: &str, nonce: &str) -> String {
        format!("c={},r={nonce}", B64.encode(gs2_header))
    }

    /// The message as sent.
    pub fn to_text(&self) -> String {
        format!("{},p={}", self.without_proof, B64.encode(&self.proof))
    }
}

impl ServerFinal {
    /// Parses a server-final message.
    pub fn parse(msg: &str) -> Result<Self> {
        if let Some(e) = msg.strip_prefix("e=") {
            return Ok(ServerFinal::Error(e.to_string()));
        }
        let v = attr(msg.split(',').next().unwrap_or(""), "v")?;
        B64.decode(v)
            .map(ServerFinal::Verifier)
            .map_err(|_| ScramMessageError("bad verifier".into()))
    }

    /// The message as sent.
    pub fn to_text(&self) -> String {
        match self {
            ServerFinal::Verifier(v) => format!("v={}", B64.encode(v)),
            ServerFinal::Error(e) => format!("e={e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_parses_rfc_example_and_escapes() {
        let m = ClientFirst::parse("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(m.username, "user");
        assert_eq!(m.bare, "n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(m.gs2_header, "n,,");

        let m = ClientFirst::parse("n,a=a=3Db,n=a=3Db=2Cc,r=x,tokenauth=true").unwrap();
        assert_eq!(m.username, "a=b,c");
        assert_eq!(m.authzid, "a=b");
        assert_eq!(
            m.extensions.get("tokenauth").map(String::as_str),
            Some("true")
        );
        assert_eq!(ClientFirst::new("a=b,c", "x").bare, "n=a=3Db=2Cc,r=x");

        for bad in [
            "",
            "n,,",
            "y,,n=user,r=x",
            "p=tls-unique,,n=user,r=x",
            "n,,n=,r=x",
            "n,,n=u=2X,r=x",
            "n,,n=user,r=",
            "n,,n=user,r=a b",
            "n,,r=x,n=user",
            "n,b=x,n=user,r=x",
            "n,,n=user,r=x,1=2",
        ] {
            assert!(ClientFirst::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn final_messages_round_trip() {
        let cf = ClientFinal::parse("c=biws,r=abc,p=AAEC").unwrap();
        assert_eq!(cf.proof, vec![0, 1, 2]);
        assert_eq!(cf.without_proof, "c=biws,r=abc");
        assert_eq!(cf.to_text(), "c=biws,r=abc,p=AAEC");
        assert_eq!(ClientFinal::without_proof("n,,", "abc"), "c=biws,r=abc");
        let sf = ServerFirst {
            nonce: "ab".into(),
            salt: vec![1, 2],
            iterations: 4096,
        };
        assert_eq!(ServerFirst::parse(&sf.to_text()).unwrap(), sf);
        assert_eq!(
            ServerFinal::parse("e=invalid-proof").unwrap(),
            ServerFinal::Error("invalid-proof".into())
        );
        assert!(ServerFinal::parse("x=1").is_err());
        assert!(ClientFinal::parse("c=biws,r=abc").is_err());
    }
}
