//! Which principals a server allows: a list of principals and patterns.
//!
//! A pattern is a principal, `name@REALM`, in which a `*` matches any run of characters
//! within one component of the name:
//!
//! - `alice@EXAMPLE.COM` allows exactly that principal;
//! - `*@EXAMPLE.COM` allows every one-component principal of the realm (users), but not
//!   `host/web1@EXAMPLE.COM`, which has two components;
//! - `HTTP/*@EXAMPLE.COM` allows the HTTP service of every host of the realm;
//! - `*/admin@EXAMPLE.COM` allows every admin instance.
//!
//! The realm is always given and matched exactly, and names are matched case-sensitively, as
//! Kerberos compares them. A `*` never crosses a `/` or the `@`, so a pattern never allows more
//! components, or another realm, than it shows.

use std::fmt;

use crate::error::Error;

/// One allowed principal or pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    text: String,
    components: Vec<String>,
    realm: String,
}

impl Rule {
    /// Parses `name@REALM` (see the module documentation).
    ///
    /// # Errors
    /// Without a realm, with an empty component, or with a `*` in the realm.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        let (name, realm) = split_realm(pattern)
            .ok_or_else(|| format!("{pattern:?} names no realm: write it as name@REALM"))?;
        if realm.is_empty() || name.is_empty() {
            return Err(format!(
                "{pattern:?}: the name and the realm must not be empty"
            ));
        }
        if realm.contains('*') {
            return Err(format!(
                "{pattern:?}: the realm is matched exactly; it may not hold a *"
            ));
        }
        let components = split_components(name);
        if components.iter().any(String::is_empty) {
            return Err(format!("{pattern:?} has an empty component"));
        }
        Ok(Self {
            text: pattern.to_string(),
            components,
            realm: realm.to_string(),
        })
    }

    /// Whether `principal` (as GSS-API displays it: `name@REALM`) matches.
    pub fn matches(&self, principal: &str) -> bool {
        let Some((name, realm)) = split_realm(principal) else {
            return false;
        };
        if realm != self.realm {
            return false;
        }
        let components = split_components(name);
        components.len() == self.components.len()
            && self
                .components
                .iter()
                .zip(&components)
                .all(|(p, c)| glob(p.as_bytes(), c.as_bytes()))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The principals a server allows. Empty allows nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    /// A list of the given rules.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        Self {
            rules: rules.into_iter().collect(),
        }
    }

    /// Parses an allow file: one principal or pattern per line; blank lines and lines starting
    /// with `#` are skipped. `source` names the file in errors.
    ///
    /// # Errors
    /// The first line that is not a pattern, with its number.
    pub fn parse(text: &str, source: &str) -> Result<Self, Error> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            rules.push(Rule::parse(line).map_err(|reason| Error::Pattern {
                source_name: source.to_string(),
                line: i + 1,
                reason,
            })?);
        }
        Ok(Self { rules })
    }

    /// Reads and parses an allow file.
    ///
    /// # Errors
    /// An unreadable file, or a line that is not a pattern.
    pub fn load(path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The first rule that allows `principal`.
    pub fn allowing(&self, principal: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(principal))
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules (nobody is allowed).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Splits at the last `@` that is not escaped with a backslash.
pub(crate) fn split_realm(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut at = None;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        match (escaped, b) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'@') => at = Some(i),
            _ => {}
        }
    }
    at.map(|i| (&s[..i], &s[i + 1..]))
}

/// Splits a principal's name at the `/`s that are not escaped (escapes kept as written).
pub(crate) fn split_components(name: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in name.chars() {
        match (escaped, c) {
            (true, _) => {
                escaped = false;
                push(&mut out, c);
            }
            (false, '\\') => {
                escaped = true;
                push(&mut out, c);
            }
            (false, '/') => out.push(String::new()),
            _ => {
                push(&mut out, c);
            }
        }
    }
    out
}

fn push(out: &mut [String], c: char) {
    if let Some(s) = out.last_mut() {
        s.push(c);
    }
}

/// `*` matches any run of bytes; everything else matches itself. Linear backtracking to the
/// last `*` only: at most `pattern.len() * text.len()` steps, however many stars.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            star = Some((p, t));
            p += 1;
        } else if pattern.get(p) == Some(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, principal: &str) -> bool {
        Rule::parse(pattern).unwrap().matches(principal)
    }

    #[test]
    fn patterns_match_within_one_component_and_one_realm() {
        assert!(allows("alice@EXAMPLE.COM", "alice@EXAMPLE.COM"));
        assert!(!allows("alice@EXAMPLE.COM", "Alice@EXAMPLE.COM"));
        assert!(!allows("alice@EXAMPLE.COM", "alice@EXAMPLE.ORG"));
        assert!(!allows("alice@EXAMPLE.COM", "alice@EXAMPLE.COM.EVIL"));
        assert!(allows("*@EXAMPLE.COM", "bob@EXAMPLE.COM"));
        assert!(!allows("*@EXAMPLE.COM", "host/web1@EXAMPLE.COM"));
        assert!(!allows("*@EXAMPLE.COM", "bob@OTHER.COM"));
        assert!(allows(
            "HTTP/*@EXAMPLE.COM",
            "HTTP/web1.example.com@EXAMPLE.COM"
        ));
        assert!(!allows("HTTP/*@EXAMPLE.COM", "HTTP@EXAMPLE.COM"));
        assert!(!allows("HTTP/*@EXAMPLE.COM", "HTTP/a/b@EXAMPLE.COM"));
        assert!(!allows("HTTP/*@EXAMPLE.COM", "host/web1@EXAMPLE.COM"));
        assert!(allows("*/admin@EXAMPLE.COM", "alice/admin@EXAMPLE.COM"));
        assert!(allows("web*@EXAMPLE.COM", "web@EXAMPLE.COM"));
        assert!(allows("web*@EXAMPLE.COM", "web12@EXAMPLE.COM"));
        // An escaped separator is part of a component, not a separator.
        assert!(allows("*@EXAMPLE.COM", r"a\/b@EXAMPLE.COM"));
        assert!(!allows("a@EXAMPLE.COM", r"a\@EXAMPLE.COM@EXAMPLE.COM"));
        assert!(!allows("a@EXAMPLE.COM", "a"));
        assert!(allows("a*b*c@R", "aXbYc@R"));
        assert!(!allows("a*b*c@R", "aXbYd@R"));
        assert!(allows("**@R", "x@R"));
        // Many stars against a long name: answered at once, not in exponential time.
        let long = format!("{}@R", "a".repeat(5000));
        assert!(!allows("*a*a*a*a*a*a*a*a*b@R", &long));
    }

    #[test]
    fn bad_patterns_are_refused_with_their_line() {
        for bad in ["alice", "alice@", "@EXAMPLE.COM", "*@*", "a//b@R", "a@EX*"] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
        let e = AllowList::parse("# users\nalice@R\n\nbob\n", "allow.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "allow.txt:4: \"bob\" names no realm: write it as name@REALM"
        );
        let list = AllowList::parse("# users\nalice@R\n  HTTP/*@R  \n", "f").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list.allowing("HTTP/x@R").map(ToString::to_string),
            Some("HTTP/*@R".into())
        );
        assert!(list.allowing("carol@R").is_none());
        assert!(AllowList::default().allowing("alice@R").is_none());
    }
}
