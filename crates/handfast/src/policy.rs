//! Who may connect and at what level: the local side of every negotiation.

use core::fmt;
use std::sync::Arc;

use crate::identity::PeerIdentity;
use crate::level::ProtectionLevel;

/// A check run on the authenticated peer before any application byte flows.
///
/// Return `Err(reason)` to refuse; the reason is logged locally and the peer learns only
/// "access denied".
pub type Authorizer = Arc<dyn Fn(&PeerIdentity) -> Result<(), String> + Send + Sync>;

/// The local policy of one side.
#[derive(Clone, Default)]
pub struct Policy {
    /// The lowest level this side will run at. Default: [`ProtectionLevel::Privacy`].
    pub minimum: ProtectionLevel,
    /// An extra authorization step after the mechanism's own trust check (pinned keys, an
    /// allow file). `None` accepts every peer the mechanism accepted.
    pub authorize: Option<Authorizer>,
}

impl Policy {
    /// A policy that requires `minimum` and authorizes whatever the mechanism trusts.
    pub fn with_minimum(minimum: ProtectionLevel) -> Self {
        Self {
            minimum,
            authorize: None,
        }
    }

    /// Adds an authorization callback.
    pub fn authorize_with(
        mut self,
        f: impl Fn(&PeerIdentity) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Arc::new(f));
        self
    }

    pub(crate) fn check_peer(&self, peer: &PeerIdentity) -> Result<(), String> {
        match &self.authorize {
            Some(f) => f(peer),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("minimum", &self.minimum)
            .field("authorize", &self.authorize.as_ref().map(|_| "<callback>"))
            .finish()
    }
}
