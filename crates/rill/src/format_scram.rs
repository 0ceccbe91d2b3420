//! `rill format --add-scram`: Kafka's `kafka-storage.sh format --add-scram` syntax,
//! `MECHANISM=[name=alice,password=alice-secret]`, with optional `iterations=N` (default
//! 4096, 4096..=16384) and `salt=BASE64` (default 32 random bytes), or
//! `saltedpassword=BASE64` with `salt=` instead of `password=`. Values may be double-quoted
//! (then they may hold `,` and `]`). Each becomes a `UserScramCredentialUpserted` record.

use anyhow::{bail, Context};
use base64::Engine as _;
use rand::RngCore;
use rill_auth::scram_credential::{MAX_ITERATIONS, MIN_ITERATIONS};
use rill_auth::{ScramCredential, ScramMechanism};
use rill_meta::MetadataRecord;

/// Length of a generated salt, in bytes.
const SALT_LEN: usize = 32;

/// Splits `k=v,k="v, with comma"` into pairs.
fn pairs(body: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .with_context(|| format!("'{rest}' is not key=value"))?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .with_context(|| format!("unterminated quote in the value of {key}"))?;
            (&quoted[..end], quoted[end + 1..].trim_start())
        } else {
            match after.find(',') {
                Some(i) => (after[..i].trim(), &after[i..]),
                None => (after.trim(), ""),
            }
        };
        out.push((key, value.to_string()));
        rest = match tail.strip_prefix(',') {
            Some(t) => t.trim_start(),
            None if tail.is_empty() => "",
            None => bail!("expected ',' after the value of {}", out[out.len() - 1].0),
        };
    }
    Ok(out)
}

fn base64_value(key: &str, value: &str) -> anyhow::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .with_context(|| format!("{key} must be base64"))
}

/// Parses one `--add-scram` value into its record.
///
/// # Errors
/// A message naming what is wrong (unknown mechanism or key, no name, no password,
/// iterations out of range).
pub fn parse_add_scram(arg: &str) -> anyhow::Result<MetadataRecord> {
    let fail = |e: anyhow::Error| e.context(format!("--add-scram '{arg}'"));
    parse(arg).map_err(fail)
}

fn parse(arg: &str) -> anyhow::Result<MetadataRecord> {
    let (mechanism, body) = arg
        .split_once('=')
        .context("expected MECHANISM=[name=...,password=...]")?;
    let mechanism = ScramMechanism::from_name(mechanism.trim()).with_context(|| {
        format!("unknown SCRAM mechanism '{mechanism}' (SCRAM-SHA-256 or SCRAM-SHA-512)")
    })?;
    let body = body
        .trim()
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .context("the credential must be in brackets: [name=...,password=...]")?;
    let (mut name, mut password, mut salt, mut salted, mut iterations) =
        (None, None, None, None, None);
    for (key, value) in pairs(body)? {
        match key.as_str() {
            "name" => name = Some(value),
            "password" => password = Some(value),
            "salt" => salt = Some(base64_value("salt", &value)?),
            "saltedpassword" => salted = Some(base64_value("saltedpassword", &value)?),
            "iterations" => {
                iterations = Some(
                    value
                        .parse::<u32>()
                        .with_context(|| format!("iterations '{value}' is not a number"))?,
                )
            }
            other => {
                bail!("unknown key '{other}' (name, password, salt, saltedpassword, iterations)")
            }
        }
    }
    let name = name
        .filter(|n| !n.is_empty())
        .context("name= is required")?;
    let iterations = iterations.unwrap_or(MIN_ITERATIONS);
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        bail!("iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, not {iterations}");
    }
    let credential = match (password, salted) {
        (Some(p), None) => {
            let salt = salt.unwrap_or_else(|| {
                let mut s = vec![0u8; SALT_LEN];
                rand::rng().fill_bytes(&mut s);
                s
            });
            ScramCredential::from_password(mechanism, &p, salt, iterations)
        }
        (None, Some(sp)) => {
            let salt = salt.context("saltedpassword= needs salt=")?;
            ScramCredential::from_salted_password(mechanism, &sp, salt, iterations)
        }
        (Some(_), Some(_)) => bail!("give password= or saltedpassword=, not both"),
        (None, None) => bail!("password= is required"),
    };
    Ok(MetadataRecord::UserScramCredentialUpserted {
        name,
        mechanism: mechanism.code(),
        salt: credential.salt.into(),
        stored_key: credential.stored_key.into(),
        server_key: credential.server_key.into(),
        iterations: iterations as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: &MetadataRecord) -> (String, i8, Vec<u8>, i32) {
        match r {
            MetadataRecord::UserScramCredentialUpserted {
                name,
                mechanism,
                salt,
                iterations,
                ..
            } => (name.clone(), *mechanism, salt.0.clone(), *iterations),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kafka_storage_syntax() {
        let r = parse_add_scram("SCRAM-SHA-256=[name=alice,password=alice-secret]").unwrap();
        let (name, mechanism, salt, iterations) = fields(&r);
        assert_eq!(
            (name.as_str(), mechanism, salt.len(), iterations),
            ("alice", 1, 32, 4096)
        );

        let r = parse_add_scram(
            r#"SCRAM-SHA-512=[name="bob",password="p,w]",salt="c2FsdA==",iterations=8192]"#,
        )
        .unwrap();
        assert_eq!(fields(&r), ("bob".into(), 2, b"salt".to_vec(), 8192));
        let want =
            ScramCredential::from_password(ScramMechanism::Sha512, "p,w]", b"salt".to_vec(), 8192);
        let MetadataRecord::UserScramCredentialUpserted { stored_key, .. } = &r else {
            unreachable!()
        };
        assert_eq!(stored_key.0, want.stored_key);
    }

    #[test]
    fn mistakes_are_named() {
        for (arg, says) in [
            ("SCRAM-SHA-1=[name=a,password=b]", "unknown SCRAM mechanism"),
            ("SCRAM-SHA-256=name=a,password=b", "brackets"),
            ("SCRAM-SHA-256=[password=b]", "name= is required"),
            ("SCRAM-SHA-256=[name=a]", "password= is required"),
            (
                "SCRAM-SHA-256=[name=a,password=b,iterations=100]",
                "between 4096 and 16384",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,colour=red]",
                "unknown key 'colour'",
            ),
            ("SCRAM-SHA-256=[name=a,saltedpassword=AAAA]", "needs salt="),
            ("SCRAM-SHA-256=[name=a,password=b,salt=!!]", "base64"),
        ] {
            let e = format!("{:#}", parse_add_scram(arg).unwrap_err());
            assert!(e.contains(says), "{arg}: {e}");
        }
    }
}
