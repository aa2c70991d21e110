//! handfast on either side of MIT's GSS-API sample programs (`gss-server`, `gss-client`), in
//! GSS mode: the GSS-API context itself protects each message.
//!
//! ```text
//! # serve one connection at a time, as gss-server does (integrity-only messages allowed):
//! cargo run -p handfast-krb5 --example gss_sample -- server --port 4444 \
//!     --keytab /etc/krb5.keytab --allow '*@EXAMPLE.COM' --min-level integrity
//! gss-client -port 4444 server.example.com host@server.example.com "hello"
//!
//! # a client, as gss-client does (after kinit):
//! gss-server -port 4444 host@server.example.com &
//! cargo run -p handfast-krb5 --example gss_sample -- client --connect server.example.com:4444 \
//!     --service host@server.example.com [--level integrity] [--spnego] [--no-mic] hello world
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use handfast::ProtectionLevel;
use handfast_krb5::gss::GssMechanism;
use handfast_krb5::sample::{self, ClientSession};
use handfast_krb5::{AllowList, ClientCredentials, Keytab, Rule, Service};

fn main() {
    if let Err(e) = run() {
        eprintln!("gss_sample: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or("usage: gss_sample server|client [options]")?;
    let mut opts = std::collections::HashMap::<String, Vec<String>>::new();
    let mut flags = Vec::new();
    let mut words = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--spnego" | "--no-mic" | "--once" => flags.push(a),
            s if s.starts_with("--") => {
                let v = args.next().ok_or_else(|| format!("{s} needs a value"))?;
                opts.entry(s.trim_start_matches("--").to_string())
                    .or_default()
                    .push(v);
            }
            _ => words.push(a),
        }
    }
    let one = |k: &str| opts.get(k).and_then(|v| v.last()).cloned();
    let level: ProtectionLevel = one("level")
        .or_else(|| one("min-level"))
        .map_or(Ok(ProtectionLevel::Privacy), |l| l.parse())?;
    match mode.as_str() {
        "server" => {
            let port = one("port").ok_or("--port is required")?;
            let keytab = one("keytab").map_or(Keytab::Default, |p| Keytab::File(p.into()));
            let mut rules = Vec::new();
            for p in opts.get("allow").into_iter().flatten() {
                rules.push(Rule::parse(p)?);
            }
            let allow = Arc::new(AllowList::new(rules));
            let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>()?))?;
            for tcp in listener.incoming() {
                let mut tcp = tcp?;
                match sample::serve(&mut tcp, &keytab, allow.clone(), level) {
                    Ok(served) => {
                        for (l, m) in &served.messages {
                            println!("{}: {l}: {}", served.peer, String::from_utf8_lossy(m));
                        }
                    }
                    Err(e) => eprintln!("refused: {e}"),
                }
                if flags.iter().any(|f| f == "--once") {
                    break;
                }
            }
        }
        "client" => {
            let connect = one("connect").ok_or("--connect host:port is required")?;
            let service = Service::parse(&one("service").ok_or("--service is required")?)?;
            let credentials =
                one("ccache").map_or(ClientCredentials::Default, ClientCredentials::Cache);
            let session = ClientSession {
                service: &service,
                credentials: &credentials,
                mechanism: if flags.iter().any(|f| f == "--spnego") {
                    GssMechanism::Spnego
                } else {
                    GssMechanism::Kerberos
                },
                level,
                want_mic: !flags.iter().any(|f| f == "--no-mic"),
            };
            let messages: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            let mut tcp = TcpStream::connect(&connect)?;
            let peer = sample::client(&mut tcp, &session, &messages)?;
            println!("{} message(s) at {level} to {peer}", messages.len());
        }
        other => return Err(format!("unknown mode {other:?}: server or client").into()),
    }
    Ok(())
}
