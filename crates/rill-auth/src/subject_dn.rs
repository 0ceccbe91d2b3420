//! A certificate's subject as Java's `X500Principal.getName()` (RFC 2253) writes it, which is
//! what Kafka feeds to `ssl.principal.mapping.rules`:
//!
//! - RDNs in reverse order of the DER sequence, joined by `,`; the values of a multi-valued
//!   RDN in DER order, joined by `+`;
//! - the keywords `CN C L ST O OU STREET DC UID`, any other attribute as its dotted OID;
//! - a string value of a keyword attribute with `, = + < > # ; " \` escaped by `\`, a NUL
//!   as `\00`, and leading and trailing spaces escaped; an OID-named attribute or a
//!   non-string value as `#` and the lower-case hex of its whole DER encoding.

use x509_parser::der_parser::asn1_rs::{Any, Class};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// Why a certificate's subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid X.509 certificate: {0}")]
pub struct CertificateError(pub String);

/// The RFC 2253 keywords Java uses, by OID.
const KEYWORDS: [(&str, &str); 9] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject DN of a DER certificate in Java's RFC 2253 form (`CN=alice,O=acme,C=US`).
///
/// # Errors
/// [`CertificateError`] if `cert_der` is not one X.509 certificate.
pub fn subject_dn(cert_der: &[u8]) -> Result<String, CertificateError> {
    let (rest, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| CertificateError(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertificateError(
            "trailing bytes after the certificate".into(),
        ));
    }
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| rdn.iter().map(ava).collect::<Vec<_>>().join("+"))
        .collect();
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// One `type=value`.
fn ava(atv: &AttributeTypeAndValue<'_>) -> String {
    let oid = atv.attr_type().to_id_string();
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    let value = atv.attr_value();
    match (keyword, decode_string(value)) {
        (Some(k), Some(s)) => format!("{k}={}", escape(&s)),
        (k, _) => format!("{}=#{}", k.unwrap_or(&oid), hex_der(value)),
    }
}

/// The text of a DER string value (the types Java reads as strings), `None` otherwise.
fn decode_string(value: &Any<'_>) -> Option<String> {
    if value.class() != Class::Universal || value.header.is_constructed() {
        return None;
    }
    let data = value.data;
    match value.tag().0 {
        // UTF8String, PrintableString, IA5String
        12 | 19 | 22 => String::from_utf8(data.to_vec()).ok(),
        // TeletexString, read as Latin-1 as Java does
        20 => Some(data.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        30 => {
            let chunks = data.chunks_exact(2);
            if !chunks.remainder().is_empty() {
                return None;
            }
            let units: Vec<u16> = chunks.map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        28 => {
            let chunks = data.chunks_exact(4);
            if !chunks.remainder().is_empty() {
                return None;
            }
            chunks
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// Escapes a value as Java's `AVA.toRFC2253String` does.
fn escape(s: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut chars: Vec<String> = s
        .chars()
        .map(|c| match c {
            '\0' => "\\00".to_string(),
            c if ESCAPEES.contains(c) => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect();
    let is_space = |s: &String| s == " " || s == "\r";
    let lead = chars.iter().take_while(|c| is_space(c)).count();
    let trail = chars.iter().rev().take_while(|c| is_space(c)).count();
    let n = chars.len();
    for (i, c) in chars.iter_mut().enumerate() {
        if i < lead || i >= n - trail {
            c.insert(0, '\\');
        }
    }
    chars.concat()
}

/// The lower-case hex of the value's whole DER encoding (tag, length, contents).
fn hex_der(value: &Any<'_>) -> String {
    let mut der = Vec::with_capacity(value.data.len() + 6);
    let class_bits = (value.class() as u8) << 6;
    let constructed = if value.header.is_constructed() {
        0x20
    } else {
        0
    };
    let tag = value.tag().0;
    if tag < 31 {
        der.push(class_bits | constructed | tag as u8);
    } else {
        der.push(class_bits | constructed | 0x1f);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7f) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().enumerate().rev() {
            der.push(if i == 0 { *g } else { g | 0x80 });
        }
    }
    let len = value.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(value.data);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_like_java() {
        assert_eq!(escape("a, b+c"), "a\\, b\\+c");
        assert_eq!(escape("x=y #1"), "x\\=y \\#1");
        assert_eq!(escape(" lead trail  "), "\\ lead trail\\ \\ ");
        assert_eq!(escape("n\0l<>;\"\\"), "n\\00l\\<\\>\\;\\\"\\\\");
        assert_eq!(escape(""), "");
        assert_eq!(escape("   "), "\\ \\ \\ ");
    }
}
