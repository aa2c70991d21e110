//! Generates the Accounts service's client and server from its description in Rust (no
//! `.proto` file, no protoc): the messages are in `src/messages.rs`.

use tonic_build::manual::{Builder, Method, Service};

fn main() {
    let method = |name: &str, route: &str, input: &str, output: &str| {
        Method::builder()
            .name(name)
            .route_name(route)
            .input_type(format!("crate::messages::{input}"))
            .output_type(format!("crate::messages::{output}"))
            .codec_path("tonic_prost::ProstCodec")
    };
    let service = Service::builder()
        .name("Accounts")
        .package("accounts")
        .method(method("get_balance", "GetBalance", "BalanceRequest", "Balance").build())
        .method(method("transfer", "Transfer", "TransferRequest", "Receipt").build())
        .method(
            method("statement", "Statement", "BalanceRequest", "Entry")
                .server_streaming()
                .build(),
        )
        .method(
            method("exchange", "Exchange", "Chunk", "Chunk")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .build();
    Builder::new().compile(&[service]);
}
