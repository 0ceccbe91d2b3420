//! Java `.properties` text, as Kafka's `--command-config` files are written: `key=value`,
//! `key: value` or `key value`; `#` and `!` comment lines; a line ending in an odd number of
//! `\` continues on the next (whose leading blanks are dropped), which is how long
//! `sasl.jaas.config` values are usually spread over lines; `\t`, `\n`, `\r`, `\f`,
//! `\uXXXX` escapes and `\x` for any other `x`. A repeated key keeps its last value.

use std::collections::BTreeMap;

use crate::error::{ClientError, Result};

/// Parses properties text into a map.
///
/// # Errors
/// [`ClientError::Config`] for a malformed `\u` escape.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for logical in logical_lines(text) {
        let (key, value) = split_key_value(&logical);
        let key = unescape(key)?;
        let value = unescape(value)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// Reads and parses a properties file.
///
/// # Errors
/// [`ClientError::Config`] when the file cannot be read or is malformed.
pub fn read_file(path: &std::path::Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::Config {
        key: "--command-config".into(),
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    parse(&text)
}

/// Whether `line` ends in an odd number of backslashes (a continuation).
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Joins continued lines and drops blank and comment lines.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_start();
        match current.take() {
            Some(mut acc) => {
                if continues(line) {
                    acc.push_str(&line[..line.len() - 1]);
                    current = Some(acc);
                } else {
                    acc.push_str(line);
                    out.push(acc);
                }
            }
            None => {
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                if continues(line) {
                    current = Some(line[..line.len() - 1].to_string());
                } else {
                    out.push(line.to_string());
                }
            }
        }
    }
    out.extend(current);
    out
}

/// Splits at the first unescaped `=`, `:` or blank; blanks around the separator are dropped.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest
                    .strip_prefix('=')
                    .or_else(|| rest.strip_prefix(':'))
                    .unwrap_or(rest);
                return (&line[..i], rest.trim_start());
            }
            _ => {}
        }
    }
    (line, "")
}

/// Resolves backslash escapes.
fn unescape(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| ClientError::Config {
                        key: s.to_string(),
                        reason: format!("malformed \\u escape '\\u{hex}'"),
                    })?;
                out.push(ch);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_separators_comments_and_continuations() {
        let text = "# a comment\n! another\n\nsecurity.protocol=SASL_SSL\nsasl.mechanism : SCRAM-SHA-256\nssl.ca.location /tmp/ca.pem\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"alice\" \\\n    password=\"alice-secret\";\nempty=\n";
        let p = parse(text).unwrap();
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanism"], "SCRAM-SHA-256");
        assert_eq!(p["ssl.ca.location"], "/tmp/ca.pem");
        assert_eq!(
            p["sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"alice-secret\";"
        );
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn escapes_follow_java() {
        let p = parse("a\\=b=c\\\\d\\u0041\\x\nlast=1\nlast=2").unwrap();
        assert_eq!(p["a=b"], "c\\dAx");
        assert_eq!(p["last"], "2");
        assert!(parse("k=\\u12").is_err());
    }
}
