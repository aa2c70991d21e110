//! # handfast-accounts
//!
//! An example gRPC service over handfast ([`handfast_tonic`]), with the policy an RPC
//! interface's security callback would have:
//!
//! | method | kind | rule |
//! | --- | --- | --- |
//! | `GetBalance` | unary | integrity allowed: the balance is not secret here, and must not be altered |
//! | `Transfer` | unary | privacy, and only the caller named `teller` |
//! | `Statement` | server streaming | privacy (the default) |
//! | `Exchange` | streaming both ways (echo) | integrity allowed |
//!
//! The `accounts` binary runs the server and a client with keys from `handfast keygen`; the
//! tests run real tonic clients and servers over TCP.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use handfast::ProtectionLevel::Integrity;
use handfast_tonic::Caller;
use handfast_tonic::policy::{Policy, Rule};
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

pub mod messages;

/// The generated client and server (from `build.rs`).
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/accounts.Accounts.rs"));
}

pub use proto::accounts_client::AccountsClient;
pub use proto::accounts_server::AccountsServer;

use messages::{Balance, BalanceRequest, Chunk, Entry, Receipt, TransferRequest};

/// The caller allowed to transfer money.
pub const TELLER: &str = "teller";

/// The service's rules: privacy unless a method says otherwise.
pub fn policy() -> Policy {
    Policy::new()
        .method("accounts.Accounts/GetBalance", Rule::level(Integrity))
        .method(
            "accounts.Accounts/Transfer",
            Rule::privacy().allow([TELLER]),
        )
        .method("accounts.Accounts/Exchange", Rule::level(Integrity))
}

/// An in-memory bank.
#[derive(Debug)]
pub struct Bank {
    balances: Mutex<HashMap<String, i64>>,
    transfers: AtomicU64,
}

impl Default for Bank {
    /// Two accounts: alice with 100.00 and bob with 50.00.
    fn default() -> Self {
        Self {
            balances: Mutex::new(HashMap::from([
                ("alice".to_owned(), 10_000),
                ("bob".to_owned(), 5_000),
            ])),
            transfers: AtomicU64::new(0),
        }
    }
}

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    // The policy layer refuses calls without one; this is for handlers served without it.
    Caller::of(request)
        .cloned()
        .ok_or_else(|| Status::unauthenticated("not an authenticated handfast connection"))
}

impl Bank {
    fn balance(&self, account: &str) -> Result<i64, Status> {
        self.lock()
            .get(account)
            .copied()
            .ok_or_else(|| Status::not_found(format!("no account {account:?}")))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.balances.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type EntryStream = Pin<Box<dyn Stream<Item = Result<Entry, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, Status>> + Send>>;

#[tonic::async_trait]
impl proto::accounts_server::Accounts for Bank {
    async fn get_balance(
        &self,
        request: Request<BalanceRequest>,
    ) -> Result<Response<Balance>, Status> {
        let who = caller(&request)?;
        let account = request.into_inner().account;
        Ok(Response::new(Balance {
            cents: self.balance(&account)?,
            account,
            caller: who.identity.name().to_owned(),
            level: who.level.to_string(),
        }))
    }

    async fn transfer(
        &self,
        request: Request<TransferRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let who = caller(&request)?;
        let t = request.into_inner();
        if t.cents <= 0 {
            return Err(Status::invalid_argument("the amount must be positive"));
        }
        let mut balances = self.lock();
        if !balances.contains_key(&t.to) {
            return Err(Status::not_found(format!("no account {:?}", t.to)));
        }
        let from = balances
            .get_mut(&t.from)
            .ok_or_else(|| Status::not_found(format!("no account {:?}", t.from)))?;
        if *from < t.cents {
            return Err(Status::failed_precondition("insufficient funds"));
        }
        *from -= t.cents;
        let from_cents = *from;
        *balances.entry(t.to).or_default() += t.cents;
        Ok(Response::new(Receipt {
            id: self.transfers.fetch_add(1, Ordering::Relaxed) + 1,
            from_cents,
            teller: who.identity.name().to_owned(),
        }))
    }

    type StatementStream = EntryStream;

    async fn statement(
        &self,
        request: Request<BalanceRequest>,
    ) -> Result<Response<EntryStream>, Status> {
        let account = request.into_inner().account;
        let balance = self.balance(&account)?;
        let entries = vec![
            Entry {
                seq: 1,
                cents: balance,
                note: "opening balance".into(),
            },
            Entry {
                seq: 2,
                cents: 0,
                note: format!("statement of {account}"),
            },
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(
            entries.into_iter().map(Ok),
        ))))
    }

    type ExchangeStream = ChunkStream;

    /// Echoes every chunk back as it arrives.
    async fn exchange(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<ChunkStream>, Status> {
        let incoming = request.into_inner();
        Ok(Response::new(Box::pin(incoming.map(|c| c))))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_names_only_served_services() {
        use tonic::server::NamedService as _;
        let served = [super::AccountsServer::<super::Bank>::NAME];
        super::policy().check_names(&served).unwrap();
    }
}
