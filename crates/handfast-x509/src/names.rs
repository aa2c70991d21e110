//! Who a certificate names, and which names are allowed.
//!
//! A verified leaf certificate yields a [`CertIdentity`]: its SPIFFE ID (by the X.509-SVID
//! rules), its DNS names and its subject. An [`AllowList`] of [`Rule`]s decides whether that
//! identity may be the peer.

use core::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::Error;

/// The names a verified leaf certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    /// The SPIFFE ID, when the certificate is an X.509-SVID.
    pub spiffe_id: Option<SpiffeId>,
    /// The DNS names of the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// Whether the leaf's extended key usage extension allows TLS server authentication
    /// (`serverAuth`); false without the extension.
    pub server_auth: bool,
    /// The same for client authentication (`clientAuth`).
    pub client_auth: bool,
    /// The subject distinguished name in RFC 4514 form, attributes in certificate order
    /// (`O=Example, CN=db`), values escaped; `None` if an attribute value is not text.
    pub subject: Option<String>,
}

impl CertIdentity {
    /// Reads the names of a DER certificate.
    ///
    /// A certificate with a `spiffe://` URI name must follow the X.509-SVID rules: exactly one
    /// URI name, a well-formed SPIFFE ID, and a key usage (if present) that allows
    /// `digitalSignature` and neither `keyCertSign` nor `cRLSign`.
    ///
    /// # Errors
    /// The certificate does not parse, or breaks the rules above.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let bad = |reason: String| Error::Certificate { reason };
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| bad(format!("the certificate does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the certificate".into()));
        }
        let mut uris = Vec::new();
        let mut dns_names = Vec::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|e| bad(format!("subject alternative names: {e}")))?;
        for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
            match name {
                GeneralName::URI(u) => uris.push((*u).to_owned()),
                GeneralName::DNSName(d) => dns_names.push(d.to_ascii_lowercase()),
                _ => {}
            }
        }
        let spiffe_id = if uris.iter().any(|u| has_spiffe_scheme(u)) {
            if uris.len() != 1 {
                return Err(bad(format!(
                    "an X.509-SVID has exactly one URI name; this certificate has {}",
                    uris.len()
                )));
            }
            let usage = cert
                .key_usage()
                .map_err(|e| bad(format!("key usage: {e}")))?;
            let ok = usage.is_some_and(|ku| {
                let ku = ku.value;
                ku.digital_signature() && !ku.key_cert_sign() && !ku.crl_sign()
            });
            if !ok {
                return Err(bad(
                    "an X.509-SVID leaf needs a key usage extension with digitalSignature, \
                     without keyCertSign and cRLSign"
                        .into(),
                ));
            }
            Some(SpiffeId::parse(&uris[0]).map_err(|e| bad(e.to_string()))?)
        } else {
            None
        };
        let eku = cert
            .extended_key_usage()
            .map_err(|e| bad(format!("extended key usage: {e}")))?
            .map(|e| e.value);
        Ok(Self {
            spiffe_id,
            dns_names,
            server_auth: eku.is_some_and(|e| e.server_auth),
            client_auth: eku.is_some_and(|e| e.client_auth),
            subject: render_name(cert.subject()),
        })
    }

    /// The name for logs: the SPIFFE ID, else the first DNS name, else the subject.
    pub fn display_name(&self) -> String {
        if let Some(id) = &self.spiffe_id {
            return id.to_string();
        }
        if let Some(dns) = self.dns_names.first() {
            return format!("DNS:{dns}");
        }
        self.subject
            .clone()
            .unwrap_or_else(|| "(a subject that is not text)".into())
    }
}

/// A distinguished name as RFC 4514 writes it: `TYPE=value` joined by `+` within an RDN and
/// by `, ` between RDNs, in certificate order; `,` `+` `"` `\` `<` `>` `;`, a leading `#` or
/// space and a trailing space are escaped with `\`, other control characters as `\XX`. So no
/// value can imitate another attribute. `None` if a value is not a text string.
fn render_name(name: &x509_parser::x509::X509Name<'_>) -> Option<String> {
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for (i, rdn) in name.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match x509_parser::objects::oid2abbrev(attr.attr_type(), registry) {
                Ok(abbrev) => out.push_str(abbrev),
                Err(_) => out.push_str(&attr.attr_type().to_id_string()),
            }
            out.push('=');
            escape_value(attr.as_str().ok()?, &mut out);
        }
    }
    Some(out)
}

fn escape_value(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (k, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if k == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if k == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
}

fn has_spiffe_scheme(uri: &str) -> bool {
    uri.get(..9)
        .is_some_and(|s| s.eq_ignore_ascii_case("spiffe://"))
}

/// A SPIFFE ID: `spiffe://<trust domain>/<path>`, as the SPIFFE ID specification defines it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    trust_domain: String,
    /// The path with its leading `/`; empty for the trust domain's own ID.
    path: String,
}

/// Why a SPIFFE ID (or pattern) is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SPIFFE ID {id:?}: {reason}")]
pub struct SpiffeIdError {
    id: String,
    reason: &'static str,
}

impl SpiffeId {
    /// Parses and checks a SPIFFE ID: the scheme is `spiffe` (lower case); the trust domain is
    /// made of `a-z 0-9 . - _`; path segments are non-empty, are not `.` or `..`, and are made
    /// of `A-Z a-z 0-9 . - _`; there is no port, user information, query or fragment; and the
    /// whole is at most 2048 bytes.
    ///
    /// # Errors
    /// When any of those rules is broken.
    pub fn parse(id: &str) -> Result<Self, SpiffeIdError> {
        let err = |reason| SpiffeIdError {
            id: id.chars().take(80).collect(),
            reason,
        };
        if id.len() > 2048 {
            return Err(err("longer than 2048 bytes"));
        }
        let rest = id
            .strip_prefix("spiffe://")
            .ok_or_else(|| err("does not start with spiffe://"))?;
        let (td, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        if td.is_empty() {
            return Err(err("no trust domain"));
        }
        if !td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        {
            return Err(err(
                "the trust domain may hold only lower-case letters, digits, '.', '-' and '_' \
                 (no port or user information)",
            ));
        }
        if !path.is_empty() {
            for seg in path[1..].split('/') {
                check_segment(seg).map_err(err)?;
            }
        }
        Ok(Self {
            trust_domain: td.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The trust domain (`example.org`).
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The path, with its leading `/` (empty for a trust domain's own ID).
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn check_segment(seg: &str) -> Result<(), &'static str> {
    if seg.is_empty() {
        return Err("empty path segment (a '//' or a trailing '/')");
    }
    if seg == "." || seg == ".." {
        return Err("'.' and '..' are not allowed as path segments");
    }
    if !seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(
            "path segments may hold only letters, digits, '.', '-' and '_' (no query or fragment)",
        );
    }
    Ok(())
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}{}", self.trust_domain, self.path)
    }
}

/// One allow rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A SPIFFE ID pattern: `spiffe://example.org/ns/prod/web` (exact);
    /// `spiffe://example.org/ns/*/web` (`*` as a whole segment matches exactly one segment);
    /// `spiffe://example.org/ns/prod/*` (a final `*` matches one or more segments).
    Spiffe(String),
    /// A DNS name: exact (case-insensitive), or `*.example.org`, which matches exactly one
    /// more label on the left. Matched against every DNS name of the certificate.
    Dns(String),
    /// A subject, as [`CertIdentity::subject`] prints it (RFC 4514, values escaped); `*`
    /// matches any run of characters within one attribute value (never a `,` or `+`).
    Subject(String),
}

impl Rule {
    /// Parses a rule in the form of an allow-file line: `spiffe://…`, `dns:NAME` or
    /// `subject:DN`.
    ///
    /// # Errors
    /// An unknown prefix or a malformed pattern.
    pub fn parse(line: &str) -> Result<Self, Error> {
        if line.starts_with("spiffe://") {
            Self::spiffe(line)
        } else if let Some(d) = line.strip_prefix("dns:") {
            Self::dns(d)
        } else if let Some(s) = line.strip_prefix("subject:") {
            Self::subject(s)
        } else {
            Err(Error::Rule {
                rule: line.to_owned(),
                reason: "expected spiffe://…, dns:NAME or subject:DN".into(),
            })
        }
    }

    /// A SPIFFE ID pattern (see [`Rule::Spiffe`]).
    ///
    /// # Errors
    /// When the pattern is not a SPIFFE ID with `*` segments, or has a `*` inside a segment.
    pub fn spiffe(pattern: &str) -> Result<Self, Error> {
        // A pattern is a SPIFFE ID once each `*` segment stands for a plain one.
        let plain = pattern
            .split('/')
            .map(|s| if s == "*" { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        SpiffeId::parse(&plain).map_err(|e| Error::Rule {
            rule: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        let mut segments = pattern.split('/');
        let trust_domain = segments.nth(2).unwrap_or_default();
        if trust_domain.contains('*') || segments.any(|s| s != "*" && s.contains('*')) {
            return Err(Error::Rule {
                rule: pattern.to_owned(),
                reason: "`*` stands only for a whole path segment".into(),
            });
        }
        Ok(Self::Spiffe(pattern.to_owned()))
    }

    /// A DNS name pattern (see [`Rule::Dns`]).
    ///
    /// # Errors
    /// An empty name, or a `*` anywhere but as the whole first label.
    pub fn dns(pattern: &str) -> Result<Self, Error> {
        let p = pattern.to_ascii_lowercase();
        let rest = p.strip_prefix("*.").unwrap_or(&p);
        if rest.is_empty()
            || rest.contains('*')
            || rest
                .split('.')
                .any(|l| l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(Error::Rule {
                rule: pattern.to_owned(),
                reason: "expected a DNS name, optionally with `*.` in front".into(),
            });
        }
        Ok(Self::Dns(p))
    }

    /// A subject pattern (see [`Rule::Subject`]).
    ///
    /// # Errors
    /// An empty pattern.
    pub fn subject(pattern: &str) -> Result<Self, Error> {
        if pattern.trim().is_empty() {
            return Err(Error::Rule {
                rule: pattern.to_owned(),
                reason: "empty subject".into(),
            });
        }
        Ok(Self::Subject(pattern.trim().to_owned()))
    }

    /// Whether `id` matches this rule.
    pub fn matches(&self, id: &CertIdentity) -> bool {
        match self {
            Self::Spiffe(p) => id
                .spiffe_id
                .as_ref()
                .is_some_and(|s| spiffe_matches(p, &s.to_string())),
            Self::Dns(p) => id.dns_names.iter().any(|d| dns_matches(p, d)),
            Self::Subject(p) => id
                .subject
                .as_ref()
                .is_some_and(|s| glob(p.as_bytes(), s.as_bytes())),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spiffe(p) => f.write_str(p),
            Self::Dns(p) => write!(f, "dns:{p}"),
            Self::Subject(p) => write!(f, "subject:{p}"),
        }
    }
}

fn spiffe_matches(pattern: &str, id: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let i: Vec<&str> = id.split('/').collect();
    // `spiffe:`, ``, trust domain, then path segments.
    let (Some(last), Some(prefix)) = (p.last(), p.get(..p.len() - 1)) else {
        return false;
    };
    let seg_eq = |a: &&str, b: &&str| *a == "*" || a == b;
    if *last == "*" && p.len() > 3 {
        // A final `*`: one or more further segments.
        i.len() >= p.len() && prefix.iter().zip(&i).all(|(a, b)| seg_eq(a, b))
    } else {
        p.len() == i.len() && p.iter().zip(&i).all(|(a, b)| seg_eq(a, b))
    }
}

fn dns_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && label != "*" && rest == suffix),
        None => pattern == name,
    }
}

/// `*` matches any run of bytes other than `,` and `+` (so within one attribute value of a
/// distinguished name); everything else matches itself.
fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star
            && s[ss] != b','
            && s[ss] != b'+'
        {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// The identities that may be the peer: any rule that matches allows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    /// An allow list of these rules.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        Self {
            rules: rules.into_iter().collect(),
        }
    }

    /// Parses an allow file: one rule per line (`spiffe://…`, `dns:NAME`, `subject:DN`); blank
    /// lines and lines starting with `#` are skipped. `source` names the file in errors.
    ///
    /// # Errors
    /// A malformed line, with its number.
    pub fn parse(text: &str, source: &str) -> Result<Self, Error> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            rules.push(Rule::parse(line).map_err(|e| Error::File {
                file: format!("{source} line {}", n + 1),
                reason: e.to_string(),
            })?);
        }
        Ok(Self { rules })
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there are no rules (and so no peer is allowed).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule that allows `id`, if any.
    pub fn allows(&self, id: &CertIdentity) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spiffe(id: &str) -> CertIdentity {
        CertIdentity {
            spiffe_id: Some(SpiffeId::parse(id).unwrap()),
            dns_names: vec![],
            server_auth: true,
            client_auth: true,
            subject: None,
        }
    }

    #[test]
    fn spiffe_ids_follow_the_specification() {
        for ok in [
            "spiffe://example.org",
            "spiffe://example.org/ns/prod/web",
            "spiffe://a-b_c.d/x.y-z_0",
        ] {
            SpiffeId::parse(ok).unwrap();
        }
        for bad in [
            "spiffe://",
            "SPIFFE://example.org/a",
            "spiffe://Example.org/a",
            "spiffe://example.org:8443/a",
            "spiffe://user@example.org/a",
            "spiffe://example.org/",
            "spiffe://example.org//a",
            "spiffe://example.org/a/../b",
            "spiffe://example.org/a/./b",
            "spiffe://example.org/a?x=1",
            "spiffe://example.org/a#f",
            "spiffe://example.org/a b",
            "https://example.org/a",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad}");
        }
        let long = format!("spiffe://example.org/{}", "a".repeat(2040));
        assert!(SpiffeId::parse(&long).is_err());
    }

    #[test]
    fn spiffe_patterns() {
        let r = Rule::spiffe("spiffe://example.org/ns/prod/*").unwrap();
        assert!(r.matches(&spiffe("spiffe://example.org/ns/prod/web")));
        assert!(r.matches(&spiffe("spiffe://example.org/ns/prod/web/v2")));
        assert!(!r.matches(&spiffe("spiffe://example.org/ns/prod")));
        assert!(!r.matches(&spiffe("spiffe://example.org/ns/staging/web")));
        assert!(!r.matches(&spiffe("spiffe://other.org/ns/prod/web")));
        assert!(!r.matches(&spiffe("spiffe://example.org/ns/production/web")));
        let r = Rule::spiffe("spiffe://example.org/ns/*/web").unwrap();
        assert!(r.matches(&spiffe("spiffe://example.org/ns/prod/web")));
        assert!(!r.matches(&spiffe("spiffe://example.org/ns/prod/db")));
        assert!(!r.matches(&spiffe("spiffe://example.org/ns/a/b/web")));
        let r = Rule::spiffe("spiffe://example.org/db").unwrap();
        assert!(r.matches(&spiffe("spiffe://example.org/db")));
        assert!(!r.matches(&spiffe("spiffe://example.org/db/x")));
        let no_id = CertIdentity {
            spiffe_id: None,
            dns_names: vec!["example.org".into()],
            server_auth: true,
            client_auth: true,
            subject: Some("CN=spiffe://example.org/db".into()),
        };
        assert!(!r.matches(&no_id));
        for bad in [
            "spiffe://*/a",
            "spiffe://example.org/a*",
            "spiffe://example.org/a/b*c",
            "spiffe://example.org//a",
            "http://example.org/a",
        ] {
            assert!(Rule::spiffe(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_and_subject_patterns() {
        let id = CertIdentity {
            spiffe_id: None,
            dns_names: vec!["db.example.org".into(), "db".into()],
            server_auth: true,
            client_auth: true,
            subject: Some("O=Example, CN=db.example.org".into()),
        };
        assert!(Rule::dns("DB.example.org").unwrap().matches(&id));
        assert!(Rule::dns("*.example.org").unwrap().matches(&id));
        assert!(!Rule::dns("*.org").unwrap().matches(&id));
        assert!(!Rule::dns("example.org").unwrap().matches(&id));
        for bad in ["", "*", "a.*.org", "*example.org", "a..b", "a b"] {
            assert!(Rule::dns(bad).is_err(), "{bad:?}");
        }
        assert!(Rule::subject("O=Example, CN=*").unwrap().matches(&id));
        assert!(!Rule::subject("O=Other, CN=*").unwrap().matches(&id));
        assert!(!Rule::subject("CN=db.example.org").unwrap().matches(&id));
        // `*` stays within one value: it cannot swallow another attribute.
        assert!(!Rule::subject("O=*").unwrap().matches(&id));
        assert!(!Rule::subject("*db.example.org").unwrap().matches(&id));
        let escaped = CertIdentity {
            subject: Some(r"O=Tenants, OU=ops\, CN=x, CN=t1".into()),
            ..id.clone()
        };
        assert!(
            !Rule::subject("O=Tenants, OU=ops, CN=*")
                .unwrap()
                .matches(&escaped)
        );
        let mut out = String::new();
        escape_value(" a,b+c\"\n ", &mut out);
        assert_eq!(out, r#"\ a\,b\+c\"\0A\ "#);
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        // Many stars against a long non-matching string terminate quickly.
        let long = vec![b'a'; 10_000];
        assert!(!glob(b"*a*a*a*a*a*b", &long));
    }

    #[test]
    fn allow_files() {
        let text = "# clients\nspiffe://example.org/ns/prod/*\n\ndns:*.example.org\nsubject:O=Example, CN=ops\n";
        let allow = AllowList::parse(text, "clients.allow").unwrap();
        assert_eq!(allow.rules().len(), 3);
        let err = AllowList::parse("spiffe://example.org/a\nhost:x\n", "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f line 2"), "{err}");
    }
}
