//! Per-service and per-method minimum levels and allowed callers: the security callback of an
//! RPC interface, as a tower layer in front of tonic's router.
//!
//! ```
//! use handfast::ProtectionLevel::Integrity;
//! use handfast_tonic::policy::{Policy, Rule};
//!
//! let policy = Policy::new() // privacy for every method, any authenticated caller
//!     .method("accounts.Accounts/GetBalance", Rule::level(Integrity))
//!     .method("accounts.Accounts/Transfer", Rule::privacy().allow(["teller"]));
//! // tonic::transport::Server::builder().layer(policy.layer()).add_service(...)
//! # let _ = policy;
//! ```
//!
//! The most specific rule applies: the method's, else its service's, else the default. A rule
//! that names no callers takes the allowed callers of the next rule out (a method's level can be
//! lowered without dropping its service's callers). A call that breaks its rule is answered
//! `PERMISSION_DENIED` with a message naming the rule (the allowed callers are logged, not told
//! to the refused one), and never reaches the handler; a request without a [`Caller`] (not
//! served through [`incoming`](crate::server::incoming)) is answered `UNAUTHENTICATED`.
//!
//! Rules are keyed by name, so a misspelt service or method would fall back to a looser rule:
//! [`Policy::check_names`] refuses rules for services the server does not serve.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use handfast::ProtectionLevel;
use tonic::Status;

use crate::Caller;

/// What a call must meet: a minimum level, and which callers may make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    minimum: ProtectionLevel,
    callers: Callers,
}

/// Which callers a rule allows.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Callers {
    /// Those of the next rule out (service, then default); any caller at the top.
    Inherit,
    /// Any authenticated caller.
    Any,
    /// Only these.
    Only(Vec<String>),
}

impl Rule {
    /// Privacy; the callers of the next rule out.
    pub fn privacy() -> Self {
        Self::level(ProtectionLevel::Privacy)
    }

    /// At least `minimum`; the callers of the next rule out (any authenticated caller at the
    /// top).
    pub fn level(minimum: ProtectionLevel) -> Self {
        Self {
            minimum,
            callers: Callers::Inherit,
        }
    }

    /// Only these callers: each entry is a peer's name (a Noise key's comment in the allow
    /// file, a SPIFFE ID, `DNS:name`...) or key fingerprint (`SHA256:...`); a final `*`
    /// matches any ending (`spiffe://example.org/ns/prod/*`).
    pub fn allow<S: Into<String>>(mut self, callers: impl IntoIterator<Item = S>) -> Self {
        self.callers = Callers::Only(callers.into_iter().map(Into::into).collect());
        self
    }

    /// Any authenticated caller, whatever the next rule out allows.
    pub fn any_caller(mut self) -> Self {
        self.callers = Callers::Any;
        self
    }

    /// The minimum level.
    pub fn minimum(&self) -> ProtectionLevel {
        self.minimum
    }
}

fn allows(allow: &[String], caller: &Caller) -> bool {
    let (name, fingerprint) = (caller.identity.name(), caller.identity.fingerprint());
    allow.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix) && !name.is_empty(),
        None => p == name || *p == fingerprint,
    })
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at least {}", self.minimum)?;
        match &self.callers {
            Callers::Inherit => Ok(()),
            Callers::Any => f.write_str(", any caller"),
            Callers::Only(allow) => write!(f, ", callers {}", allow.join(" ")),
        }
    }
}

/// The rules of a server: a default, per service (`package.Service`) and per method
/// (`package.Service/Method`).
#[derive(Clone, Debug)]
pub struct Policy {
    default: Rule,
    services: HashMap<String, Rule>,
    methods: HashMap<String, Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy {
    /// Privacy for every method, any authenticated caller.
    pub fn new() -> Self {
        Self {
            default: Rule::privacy(),
            services: HashMap::new(),
            methods: HashMap::new(),
        }
    }

    /// The rule for methods with no rule of their own or of their service.
    pub fn default_rule(mut self, rule: Rule) -> Self {
        self.default = rule;
        self
    }

    /// The rule for the methods of `service` (`package.Service`) without rules of their own.
    pub fn service(mut self, service: &str, rule: Rule) -> Self {
        self.services
            .insert(service.trim_matches('/').to_owned(), rule);
        self
    }

    /// The rule for one method: `package.Service/Method`.
    pub fn method(mut self, method: &str, rule: Rule) -> Self {
        self.methods
            .insert(method.trim_matches('/').to_owned(), rule);
        self
    }

    /// The rule for a request path (`/package.Service/Method`), and where it came from.
    pub fn rule_for(&self, path: &str) -> (&Rule, RuleSource<'_>) {
        let method = path.trim_start_matches('/');
        let service = method.split_once('/').map_or(method, |(s, _)| s);
        if let Some((name, rule)) = self.methods.get_key_value(method) {
            (rule, RuleSource::Method(name))
        } else if let Some((name, rule)) = self.services.get_key_value(service) {
            (rule, RuleSource::Service(name))
        } else {
            (&self.default, RuleSource::Default)
        }
    }

    /// The callers allowed for a request path: the first rule out, from the method's to the
    /// default, that names them; `None` for any caller.
    fn callers_for(&self, path: &str) -> Option<&[String]> {
        let method = path.trim_start_matches('/');
        let service = method.split_once('/').map_or(method, |(s, _)| s);
        [
            self.methods.get(method),
            self.services.get(service),
            Some(&self.default),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| match &r.callers {
            Callers::Inherit => None,
            Callers::Any => Some(None),
            Callers::Only(allow) => Some(Some(allow.as_slice())),
        })
        .flatten()
    }

    /// Checks one call.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` without a caller; `PERMISSION_DENIED` below the rule's level or from a
    /// caller it does not allow. The message names the method and the rule; the allowed
    /// callers are logged, not told.
    pub fn check(&self, path: &str, caller: Option<&Caller>) -> Result<(), Status> {
        let method = path.trim_start_matches('/');
        let Some(caller) = caller else {
            return Err(Status::unauthenticated(format!(
                "{method}: the call did not come over an authenticated handfast connection"
            )));
        };
        let (rule, source) = self.rule_for(path);
        if caller.level < rule.minimum {
            return Err(Status::permission_denied(format!(
                "{method} requires {} ({source}); this connection runs at {}",
                rule.minimum, caller.level
            )));
        }
        if let Some(allow) = self.callers_for(path)
            && !allows(allow, caller)
        {
            tracing::info!(
                "{method}: caller {:?} ({}) refused: allowed are {}",
                caller.identity.name(),
                caller.identity.fingerprint(),
                allow.join(" ")
            );
            return Err(Status::permission_denied(format!(
                "{method}: caller {:?} is not allowed ({source})",
                caller.identity.name(),
            )));
        }
        Ok(())
    }

    /// Checks that every service this policy names is among `served` (the servers'
    /// `NamedService::NAME`s): a rule for a misspelt or renamed service would never apply.
    ///
    /// # Errors
    /// The first rule whose service is not served, by name.
    pub fn check_names(&self, served: &[&str]) -> Result<(), String> {
        let named = self
            .services
            .keys()
            .map(|s| (s.as_str(), s.as_str()))
            .chain(
                self.methods
                    .keys()
                    .map(|m| (m.as_str(), m.split_once('/').map_or(m.as_str(), |(s, _)| s))),
            );
        for (key, service) in named {
            if !served.contains(&service) {
                return Err(format!(
                    "policy rule {key:?}: no service {service:?} is served (served: {})",
                    served.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The tower layer that enforces this policy: `Server::builder().layer(policy.layer())`.
    pub fn layer(self) -> PolicyLayer {
        PolicyLayer {
            policy: Arc::new(self),
        }
    }
}

/// Which rule applied to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSource<'a> {
    /// The method's own (`package.Service/Method`).
    Method(&'a str),
    /// Its service's (`package.Service`).
    Service(&'a str),
    /// The policy's default.
    Default,
}

impl fmt::Display for RuleSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Method(m) => write!(f, "the rule of method {m}"),
            Self::Service(s) => write!(f, "the rule of service {s}"),
            Self::Default => f.write_str("the default rule"),
        }
    }
}

/// Enforces a [`Policy`] in front of a tonic router.
#[derive(Clone, Debug)]
pub struct PolicyLayer {
    policy: Arc<Policy>,
}

impl<S> tower::Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> PolicyService<S> {
        PolicyService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service of a [`PolicyLayer`].
#[derive(Clone, Debug)]
pub struct PolicyService<S> {
    inner: S,
    policy: Arc<Policy>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for PolicyService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let verdict = self
            .policy
            .check(request.uri().path(), request.extensions().get::<Caller>());
        match verdict {
            Ok(()) => {
                // The service that was polled ready takes the call; a clone waits for the next.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(ready.call(request))
            }
            Err(status) => {
                tracing::info!("refused: {}", status.message());
                let response = status.into_http::<R>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use handfast::ProtectionLevel::{Integrity, Privacy};
    use handfast::{MechanismId, PeerIdentity};

    fn caller(name: &str, level: ProtectionLevel) -> Caller {
        Caller {
            identity: std::sync::Arc::new(PeerIdentity::new(
                MechanismId::NOISE_XX_25519,
                vec![7; 32],
                name,
            )),
            level,
            mechanism: "noise-xx-25519",
            remote: None,
        }
    }

    #[test]
    fn the_most_specific_rule_applies() {
        let p = Policy::new()
            .service("accounts.Accounts", Rule::level(Integrity))
            .method(
                "accounts.Accounts/Transfer",
                Rule::privacy().allow(["teller"]),
            );
        let path = |m: &str| format!("/accounts.Accounts/{m}");
        // The service's rule: integrity is enough.
        p.check(&path("GetBalance"), Some(&caller("web", Integrity)))
            .unwrap();
        // The method's: privacy, and only the teller.
        let e = p
            .check(&path("Transfer"), Some(&caller("teller", Integrity)))
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(e.message().contains("requires privacy (the rule of method accounts.Accounts/Transfer); this connection runs at integrity"), "{}", e.message());
        let e = p
            .check(&path("Transfer"), Some(&caller("web", Privacy)))
            .unwrap_err();
        assert!(
            e.message().contains(
                "caller \"web\" is not allowed (the rule of method accounts.Accounts/Transfer)"
            ),
            "{}",
            e.message()
        );
        assert!(
            !e.message().contains("teller"),
            "the allowed are not told: {}",
            e.message()
        );
        p.check(&path("Transfer"), Some(&caller("teller", Privacy)))
            .unwrap();
        // Anything else: the default, privacy.
        let e = p
            .check("/other.Svc/M", Some(&caller("web", Integrity)))
            .unwrap_err();
        assert!(e.message().contains("the default rule"), "{}", e.message());
        // No caller at all.
        let e = p.check(&path("GetBalance"), None).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn callers_by_name_prefix_or_fingerprint() {
        let c = caller("spiffe://example.org/ns/prod/web", Privacy);
        let yes = |p: &str| allows(&[p.to_owned()], &c);
        assert!(yes("spiffe://example.org/ns/prod/*"));
        assert!(!yes("spiffe://example.org/ns/dev/*"));
        assert!(yes(&c.identity.fingerprint()));
        assert!(!yes("spiffe://example.org/ns/prod"));
        // A nameless peer is matched by fingerprint only, never by a bare `*`.
        assert!(!allows(&["*".to_owned()], &caller("", Privacy)));
    }

    #[test]
    fn a_method_rule_without_callers_keeps_its_services() {
        let p = Policy::new()
            .service("bank.Vault", Rule::privacy().allow(["teller"]))
            .method("bank.Vault/Peek", Rule::level(Integrity))
            .method("bank.Vault/Open", Rule::level(Integrity).any_caller());
        // Peek's level is lowered, its callers are still the service's.
        assert!(
            p.check("/bank.Vault/Peek", Some(&caller("web", Integrity)))
                .is_err()
        );
        p.check("/bank.Vault/Peek", Some(&caller("teller", Integrity)))
            .unwrap();
        // Open says any caller, explicitly.
        p.check("/bank.Vault/Open", Some(&caller("web", Integrity)))
            .unwrap();
        // Names are checked against what is served.
        p.check_names(&["bank.Vault"]).unwrap();
        let e = p.check_names(&["bank.Vaults"]).unwrap_err();
        assert!(e.contains("no service \"bank.Vault\" is served"), "{e}");
    }
}
