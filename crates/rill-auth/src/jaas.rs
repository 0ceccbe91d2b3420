//! Kafka's `sasl.jaas.config` values (`listener.name.<l>.<mechanism>.sasl.jaas.config`), as
//! Kafka's `JaasConfig` reads them with Java's `StreamTokenizer`:
//!
//! ```text
//! <login module class> <flag> [<key>=<value>]* ;
//! ```
//!
//! Values are words (`[A-Za-z0-9._$-]` and non-ASCII) or quoted with `"` or `'`, where `\`
//! escapes as in Java (`\n`, `\t`, `\r`, `\b`, `\f`, `\a`, `\v`, octal `\NNN`, and `\x` for
//! any other `x`). `//` and `/* */` comments are skipped. A property value holds exactly one
//! login module. Errors stop the broker's start, so they say what is wrong and where.

use std::collections::BTreeMap;

/// Why a `sasl.jaas.config` value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    /// The value has no login module.
    #[error("Login module not specified in JAAS config")]
    NoLoginModule,
    /// More than one login module (`... ; other.Module required;`).
    #[error("JAAS config property contains {0} login modules, should be 1 module")]
    TooManyModules(usize),
    /// The flag is missing or not `required`, `requisite`, `sufficient` or `optional`.
    #[error("Invalid login module control flag '{0}' in JAAS config")]
    InvalidFlag(String),
    /// `key` is not followed by `=` and a value.
    #[error("Value not specified for key '{0}' in JAAS config")]
    MissingValue(String),
    /// The entry does not end with `;`.
    #[error("JAAS config entry not terminated by semi-colon")]
    NotTerminated,
    /// A quoted value or comment runs to the end of the text.
    #[error("unterminated {0} in JAAS config")]
    Unterminated(&'static str),
    /// A character that cannot start a token.
    #[error("unexpected character '{ch}' at byte {at} in JAAS config")]
    Unexpected {
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
}

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    /// The login module class (`org.apache.kafka.common.security.plain.PlainLoginModule`).
    pub login_module: String,
    /// The control flag as written (`required`, ...).
    pub flag: String,
    /// The options; a repeated key keeps its last value, as in Kafka.
    pub options: BTreeMap<String, String>,
}

/// A token of the JAAS grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$' | '-') || !c.is_ascii()
}

/// The value of a `\` escape in a quoted string; `chars` is after the backslash.
fn unescape(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<char> {
    let (_, c) = chars.next()?;
    Some(match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'a' => '\u{7}',
        'v' => '\u{b}',
        '0'..='7' => {
            let mut n = c.to_digit(8).unwrap_or(0);
            let max_digits = if c <= '3' { 3 } else { 2 };
            for _ in 1..max_digits {
                match chars.peek().and_then(|&(_, d)| d.to_digit(8)) {
                    Some(d) => {
                        n = n * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            char::from_u32(n).unwrap_or('\u{fffd}')
        }
        other => other,
    })
}

fn tokenize(text: &str) -> Result<Vec<Token>, JaasError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        chars.next();
        match c {
            c if c.is_whitespace() || c.is_control() => {}
            '=' => tokens.push(Token::Equals),
            ';' => tokens.push(Token::Semicolon),
            '/' if matches!(chars.peek(), Some((_, '/'))) => {
                while chars.next_if(|&(_, c)| c != '\n' && c != '\r').is_some() {}
            }
            '/' if matches!(chars.peek(), Some((_, '*'))) => {
                chars.next();
                let rest = &text[at + 2..];
                let end = rest.find("*/").ok_or(JaasError::Unterminated("comment"))?;
                let stop = at + 2 + end + 2;
                while chars.next_if(|&(i, _)| i < stop).is_some() {}
            }
            '"' | '\'' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(JaasError::Unterminated("quoted value")),
                        Some((_, q)) if q == c => break,
                        Some((_, '\\')) => {
                            value.push(
                                unescape(&mut chars)
                                    .ok_or(JaasError::Unterminated("quoted value"))?,
                            );
                        }
                        Some((_, ch)) => value.push(ch),
                    }
                }
                tokens.push(Token::Quoted(value));
            }
            c if is_word_char(c) => {
                let mut word = String::from(c);
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| is_word_char(ch)) {
                    word.push(ch);
                }
                tokens.push(Token::Word(word));
            }
            ch => return Err(JaasError::Unexpected { ch, at }),
        }
    }
    Ok(tokens)
}

fn text_of(token: Option<&Token>) -> Option<&str> {
    match token {
        Some(Token::Word(s) | Token::Quoted(s)) => Some(s),
        _ => None,
    }
}

impl JaasConfig {
    /// Parses a `sasl.jaas.config` value holding exactly one login module.
    ///
    /// # Errors
    /// [`JaasError`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, JaasError> {
        let tokens = tokenize(text)?;
        let mut entries = Vec::new();
        let mut rest = &tokens[..];
        while !rest.is_empty() {
            let (entry, after) = Self::parse_entry(rest)?;
            entries.push(entry);
            rest = after;
        }
        match entries.len() {
            0 => Err(JaasError::NoLoginModule),
            1 => entries.pop().ok_or(JaasError::NoLoginModule),
            n => Err(JaasError::TooManyModules(n)),
        }
    }

    fn parse_entry(tokens: &[Token]) -> Result<(Self, &[Token]), JaasError> {
        let login_module = text_of(tokens.first())
            .ok_or(JaasError::NoLoginModule)?
            .to_string();
        let flag = match tokens.get(1) {
            Some(Token::Word(f)) => f.clone(),
            Some(Token::Quoted(f)) => return Err(JaasError::InvalidFlag(f.clone())),
            Some(_) | None => return Err(JaasError::InvalidFlag(String::new())),
        };
        if !["required", "requisite", "sufficient", "optional"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&flag))
        {
            return Err(JaasError::InvalidFlag(flag));
        }
        let mut options = BTreeMap::new();
        let mut i = 2;
        loop {
            match tokens.get(i) {
                None => return Err(JaasError::NotTerminated),
                Some(Token::Semicolon) => break,
                Some(t) => {
                    let key = text_of(Some(t)).ok_or(JaasError::MissingValue("=".into()))?;
                    let value = match (tokens.get(i + 1), text_of(tokens.get(i + 2))) {
                        (Some(Token::Equals), Some(v)) => v,
                        _ => return Err(JaasError::MissingValue(key.to_string())),
                    };
                    options.insert(key.to_string(), value.to_string());
                    i += 3;
                }
            }
        }
        let entry = JaasConfig {
            login_module,
            flag,
            options,
        };
        Ok((entry, &tokens[i + 1..]))
    }

    /// The PLAIN users of `PlainLoginModule`'s server options: `user_<name>="<password>"`.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
            .filter(|(user, _)| !user.is_empty())
            .collect()
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_plain_example() {
        let c = JaasConfig::parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#,
        )
        .unwrap();
        assert_eq!(
            c.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(c.flag, "required");
        assert_eq!(c.option("username"), Some("admin"));
        assert_eq!(c.option("password"), Some("admin-secret"));
        let users = c.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice-secret");
    }

    #[test]
    fn quotes_escapes_words_and_comments() {
        let c = JaasConfig::parse(
            "m.M REQUIRED /* c */ a=\"x\\\"y\\\\z\\n\\101\" b='s q' c=plain-word_1.$ // tail\n d=\"\";",
        )
        .unwrap();
        assert_eq!(c.option("a"), Some("x\"y\\z\nA"));
        assert_eq!(c.option("b"), Some("s q"));
        assert_eq!(c.option("c"), Some("plain-word_1.$"));
        assert_eq!(c.option("d"), Some(""));
        let c = JaasConfig::parse("m.M optional;").unwrap();
        assert!(c.options.is_empty());
        let c = JaasConfig::parse("m.M optional k=1 k=2;").unwrap();
        assert_eq!(c.option("k"), Some("2"));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        use JaasError::*;
        let cases: [(&str, JaasError); 9] = [
            ("", NoLoginModule),
            ("   ", NoLoginModule),
            ("m.M", InvalidFlag(String::new())),
            ("m.M mandatory;", InvalidFlag("mandatory".into())),
            ("m.M required a=\"x\"", NotTerminated),
            ("m.M required a;", MissingValue("a".into())),
            ("m.M required a=;", MissingValue("a".into())),
            ("m.M required a=\"x;", Unterminated("quoted value")),
            ("m.M required; n.N required;", TooManyModules(2)),
        ];
        for (text, want) in cases {
            assert_eq!(JaasConfig::parse(text), Err(want), "{text:?}");
        }
        assert!(matches!(
            JaasConfig::parse("m.M required a=b, c=d;"),
            Err(Unexpected { ch: ',', .. })
        ));
        assert!(JaasConfig::parse("m.M required /* x").is_err());
    }
}
