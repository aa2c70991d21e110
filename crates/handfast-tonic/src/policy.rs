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
//! The most specific rule applies: the method's, else its service's, else the default. A call
//! that breaks it is answered `PERMISSION_DENIED` with a message naming the rule, and never
//! reaches the handler; a request without a [`Caller`] (not served through
//! [`incoming`](crate::server::incoming)) is answered `UNAUTHENTICATED`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use handfast::ProtectionLevel;
use tonic::Status;

use crate::Caller;

/// What a call must meet: a minimum level, and optionally which callers may make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    minimum: ProtectionLevel,
    allow: Option<Vec<String>>,
}

impl Rule {
    /// Privacy, any authenticated caller.
    pub fn privacy() -> Self {
        Self::level(ProtectionLevel::Privacy)
    }

    /// At least `minimum`, any authenticated caller.
    pub fn level(minimum: ProtectionLevel) -> Self {
        Self {
            minimum,
            allow: None,
        }
    }

    /// Only these callers: each entry is a peer's name (a Noise key's comment in the allow
    /// file, a SPIFFE ID, `DNS:name`...) or key fingerprint (`SHA256:...`); a final `*`
    /// matches any ending (`spiffe://example.org/ns/prod/*`).
    pub fn allow<S: Into<String>>(mut self, callers: impl IntoIterator<Item = S>) -> Self {
        self.allow = Some(callers.into_iter().map(Into::into).collect());
        self
    }

    /// The minimum level.
    pub fn minimum(&self) -> ProtectionLevel {
        self.minimum
    }

    fn allows(&self, caller: &Caller) -> bool {
        let Some(allow) = &self.allow else {
            return true;
        };
        let (name, fingerprint) = (caller.identity.name(), caller.identity.fingerprint());
        allow.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix) && !name.is_empty(),
            None => p == name || *p == fingerprint,
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at least {}", self.minimum)?;
        if let Some(allow) = &self.allow {
            write!(f, ", callers {}", allow.join(" "))?;
        }
        Ok(())
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

    /// Checks one call.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` without a caller; `PERMISSION_DENIED` below the rule's level or from a
    /// caller it does not allow. The message names the method and the rule.
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
        if !rule.allows(caller) {
            return Err(Status::permission_denied(format!(
                "{method}: caller {:?} ({}) is not allowed ({source}: {rule})",
                caller.identity.name(),
                caller.identity.fingerprint()
            )));
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
        assert!(e.message().contains("caller \"web\""), "{}", e.message());
        assert!(e.message().contains("callers teller"), "{}", e.message());
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
        assert!(
            Rule::privacy()
                .allow(["spiffe://example.org/ns/prod/*"])
                .allows(&c)
        );
        assert!(
            !Rule::privacy()
                .allow(["spiffe://example.org/ns/dev/*"])
                .allows(&c)
        );
        assert!(Rule::privacy().allow([c.identity.fingerprint()]).allows(&c));
        assert!(
            !Rule::privacy()
                .allow(["spiffe://example.org/ns/prod"])
                .allows(&c)
        );
        // A nameless peer is matched by fingerprint only, never by a bare `*`.
        assert!(!Rule::privacy().allow(["*"]).allows(&caller("", Privacy)));
    }
}
