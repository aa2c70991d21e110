//! The Accounts service's messages (protobuf, through prost).

/// Which account.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BalanceRequest {
    /// The account's name.
    #[prost(string, tag = "1")]
    pub account: String,
}

/// An account's balance, with who asked and at which level, as the server saw them.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Balance {
    /// The account's name.
    #[prost(string, tag = "1")]
    pub account: String,
    /// Its balance, in cents.
    #[prost(int64, tag = "2")]
    pub cents: i64,
    /// The caller's name, as handfast authenticated it.
    #[prost(string, tag = "3")]
    pub caller: String,
    /// The level of the caller's connection.
    #[prost(string, tag = "4")]
    pub level: String,
}

/// Move money between accounts.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TransferRequest {
    /// From this account.
    #[prost(string, tag = "1")]
    pub from: String,
    /// To this one.
    #[prost(string, tag = "2")]
    pub to: String,
    /// How much, in cents (positive).
    #[prost(int64, tag = "3")]
    pub cents: i64,
}

/// A completed transfer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Receipt {
    /// The transfer's number.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The paying account's balance after it.
    #[prost(int64, tag = "2")]
    pub from_cents: i64,
    /// Who made it.
    #[prost(string, tag = "3")]
    pub teller: String,
}

/// One line of a statement.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Entry {
    /// Its number in the statement.
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    /// The amount, in cents (negative for money out).
    #[prost(int64, tag = "2")]
    pub cents: i64,
    /// What it was.
    #[prost(string, tag = "3")]
    pub note: String,
}

/// Opaque bytes, for the streaming exchange.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Chunk {
    /// The bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}
