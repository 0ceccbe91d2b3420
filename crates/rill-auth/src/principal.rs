//! Kafka's `ssl.principal.mapping.rules` (`SslPrincipalMapper`): the name a TLS client's
//! certificate subject becomes. Rules are tried in order, separated by commas:
//!
//! - `DEFAULT`: the distinguished name unchanged;
//! - `RULE:<pattern>/<replacement>/[L|U]`: if the pattern matches the whole DN, the DN with
//!   every match replaced (Java replacement syntax: `$1`, `${name}`, `\` escapes), then
//!   lower- or upper-cased. `\/` puts a `/` in a pattern or replacement.
//!
//! The DN is the RFC 2253 form of the subject (`CN=alice,OU=eng,O=acme,C=US`, see
//! [`crate::subject_dn`]). Patterns are compiled with the `regex` crate, which takes Java's
//! common syntax but not look-around or back-references (those rules are refused at parse,
//! so the broker does not start with them). Immutable once parsed.

use std::fmt;

use regex::Regex;

pub use crate::subject_dn::{subject_dn, CertificateError};

/// Why `ssl.principal.mapping.rules` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid rule: `{rule}`: {reason}")]
pub struct PrincipalRuleError {
    /// The rule text from where parsing stopped.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

/// No rule applied to a DN (Kafka's `NoMatchingRule`): the TLS client is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("No rules apply to {dn}, rules {rules}")]
pub struct NoMatch {
    /// The distinguished name.
    pub dn: String,
    /// The rules, as configured.
    pub rules: String,
}

/// How a rule changes the case of its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// One parsed rule.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The pattern as written, for messages.
        source: String,
        /// The pattern anchored at both ends: does the rule apply.
        whole: Regex,
        /// The pattern: what is replaced.
        pattern: Regex,
        /// The replacement in the `regex` crate's syntax.
        replacement: String,
        /// `L`, `U` or neither.
        case: Case,
    },
}

/// Parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    /// The rules in order.
    rules: Vec<Rule>,
    /// The rules as configured, for [`NoMatch`].
    text: String,
}

impl fmt::Display for PrincipalMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn invalid(rule: &str, reason: impl Into<String>) -> PrincipalRuleError {
    PrincipalRuleError {
        rule: rule.to_string(),
        reason: reason.into(),
    }
}

/// Splits `s` at the first `/` not escaped by `\`: (before, after the slash).
fn until_slash(s: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Converts a Java replacement string to the `regex` crate's syntax, as Kafka's
/// `escapeLiteralBackReferences` then `Matcher.appendReplacement` read it: `$n` takes as
/// many digits as name an existing group, a `$n` naming no group is literal text.
fn java_replacement(java: &str, groups: usize) -> Result<String, String> {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err("character to be escaped is missing".into()),
            },
            '$' => match chars.peek().copied() {
                Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                        return Err("bad named group reference".into());
                    }
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    let mut n = d.to_digit(10).map_or(0, |n| n as usize);
                    if n > groups {
                        out.push_str(&format!("$${d}"));
                        continue;
                    }
                    while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                        let longer = n * 10 + next as usize;
                        if longer > groups {
                            break;
                        }
                        n = longer;
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                _ => return Err("illegal group reference".into()),
            },
            other => out.push(other),
        }
    }
    Ok(out)
}

fn parse_rule<'a>(rest: &'a str, all: &str) -> Result<(Rule, &'a str), PrincipalRuleError> {
    if let Some(after) = rest.strip_prefix("DEFAULT") {
        return Ok((Rule::Default, after));
    }
    let body = rest
        .strip_prefix("RULE:")
        .ok_or_else(|| invalid(rest, format!("expected DEFAULT or RULE: in `{all}`")))?;
    let (source, after) =
        until_slash(body).ok_or_else(|| invalid(rest, "no `/` after the pattern"))?;
    let (replacement, after) =
        until_slash(after).ok_or_else(|| invalid(rest, "no `/` after the replacement"))?;
    let (case, after) = match after.chars().next() {
        Some('L') => (Case::Lower, &after[1..]),
        Some('U') => (Case::Upper, &after[1..]),
        _ => (Case::Keep, after),
    };
    let pattern = Regex::new(source).map_err(|e| invalid(rest, e.to_string()))?;
    let whole = Regex::new(&format!("^(?:{source})$")).map_err(|e| invalid(rest, e.to_string()))?;
    let replacement =
        java_replacement(replacement, pattern.captures_len() - 1).map_err(|e| invalid(rest, e))?;
    let rule = Rule::Replace {
        source: source.to_string(),
        whole,
        pattern,
        replacement,
        case,
    };
    Ok((rule, after))
}

impl PrincipalMapper {
    /// Parses `ssl.principal.mapping.rules` (Kafka's default is `DEFAULT`). An empty value
    /// has no rules: every DN is then refused, as in Kafka.
    ///
    /// # Errors
    /// [`PrincipalRuleError`] for text that is not a list of rules, a pattern the `regex`
    /// crate refuses, or a bad replacement.
    pub fn parse(rules: &str) -> Result<Self, PrincipalRuleError> {
        let mut parsed = Vec::new();
        let mut rest = rules.trim_start();
        while !rest.is_empty() {
            let (rule, after) = parse_rule(rest, rules)?;
            parsed.push(rule);
            rest = after.trim_start();
            if rest.is_empty() {
                break;
            }
            rest = rest
                .strip_prefix(',')
                .ok_or_else(|| invalid(rest, "unmatched text after the rule"))?
                .trim_start();
        }
        Ok(PrincipalMapper {
            rules: parsed,
            text: rules.to_string(),
        })
    }

    /// The principal name for `dn`: the first rule that applies.
    ///
    /// # Errors
    /// [`NoMatch`] if none does.
    pub fn map(&self, dn: &str) -> Result<String, NoMatch> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace {
                    whole,
                    pattern,
                    replacement,
                    case,
                    ..
                } if whole.is_match(dn) => {
                    let name = pattern.replace_all(dn, replacement.as_str());
                    return Ok(match case {
                        Case::Keep => name.into_owned(),
                        Case::Lower => name.to_lowercase(),
                        Case::Upper => name.to_uppercase(),
                    });
                }
                Rule::Replace { .. } => {}
            }
        }
        Err(NoMatch {
            dn: dn.to_string(),
            rules: self.text.clone(),
        })
    }

    /// The rule patterns, for logs (`DEFAULT` for the default rule).
    pub fn patterns(&self) -> Vec<&str> {
        self.rules
            .iter()
            .map(|r| match r {
                Rule::Default => "DEFAULT",
                Rule::Replace { source, .. } => source.as_str(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, dn: &str) -> String {
        PrincipalMapper::parse(rules).unwrap().map(dn).unwrap()
    }

    /// The cases of Kafka's `SslPrincipalMapperTest`.
    #[test]
    fn kafkas_examples() {
        assert_eq!(map("DEFAULT", "CN=alice,OU=eng"), "CN=alice,OU=eng");
        assert_eq!(
            map(
                "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
                "CN=kafka1,OU=ServiceUsers,O=Org,C=US"
            ),
            "kafka1"
        );
        let dn = "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Palo Alto,ST=CA,C=US";
        let rule = "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/";
        assert_eq!(map(&format!("{rule}L"), dn), "duke@javasoft");
        assert_eq!(map(&format!("{rule}U"), dn), "DUKE@JAVASOFT");
        assert_eq!(
            map(
                "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
                "OU=JavaSoft,O=Sun Microsystems,C=US,CN=Duke"
            ),
            "duke"
        );
        // Commas inside a pattern do not split rules; the first rule that applies wins.
        let rules = "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/, DEFAULT";
        assert_eq!(map(rules, "CN=kafka,OU=x"), "kafka");
        assert_eq!(map(rules, "CN=Admin,OU=x"), "CN=Admin,OU=x");
        // Escaped slashes, a literal dollar, a group number past the groups.
        assert_eq!(map(r"RULE:^CN=(.*)\/x$/$1\/\$$9/", "CN=a/x"), "a/$$9");
        assert_eq!(map("RULE:^CN=(.*)$/$10/", "CN=a"), "a0");
    }

    #[test]
    fn no_rule_applies() {
        let m = PrincipalMapper::parse("RULE:^CN=(.*),OU=eng$/$1/").unwrap();
        let e = m.map("CN=bob,OU=ops").unwrap_err();
        assert_eq!(
            e.to_string(),
            "No rules apply to CN=bob,OU=ops, rules RULE:^CN=(.*),OU=eng$/$1/"
        );
        assert!(PrincipalMapper::parse("").unwrap().map("CN=a").is_err());
    }

    #[test]
    fn invalid_rules() {
        for bad in [
            "DEFAULTx",
            "RULE:",
            "RULE:/",
            "RULE:^CN=(.*)$/$1/X",
            "RULE:^CN=(.*)$/$1/L/U",
            "DEFAULT RULE:a/b/",
            "foo",
            "RULE:(?=x)/a/",
            "RULE:^CN=(.*)$/$x/",
            "RULE:^CN=(.*)$/a\\/",
        ] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PrincipalMapper::parse(" DEFAULT , DEFAULT,")
                .unwrap()
                .patterns(),
            ["DEFAULT", "DEFAULT"]
        );
    }
}
