//! Bad input from the user: one clear line naming the problem, a non-zero exit, no panic.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Keys, run};

fn fails_with(args: &[&str], expected: &[&str]) {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert_ne!(o.status.code(), Some(101), "{args:?} panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{args:?}: expected {e:?} in:\n{stderr}");
    }
}

fn server_args<'a>(keys: &'a Keys, key: &'a str, allow: &'a str) -> Vec<String> {
    vec![
        "server".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--forward".into(),
        "127.0.0.1:1".into(),
        "--key".into(),
        keys.p(key),
        "--allow".into(),
        keys.p(allow),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn group_readable_private_key_is_refused_with_the_fix() {
    let keys = Keys::new();
    std::fs::set_permissions(
        keys.path("server.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let args = server_args(&keys, "server.key", "clients.allow");
    fails_with(
        &strs(&args),
        &[
            &keys.p("server.key"),
            "chmod 600",
            "readable by group or others",
        ],
    );
}

#[test]
fn missing_file_is_named() {
    let keys = Keys::new();
    let args = server_args(&keys, "nope.key", "clients.allow");
    fails_with(&strs(&args), &[&keys.p("nope.key"), "No such file"]);
    let args = server_args(&keys, "server.key", "missing.allow");
    fails_with(&strs(&args), &[&keys.p("missing.allow")]);
}

#[test]
fn malformed_allow_line_names_file_and_line() {
    let keys = Keys::new();
    let good = std::fs::read_to_string(keys.path("client.key.pub")).unwrap();
    std::fs::write(
        keys.path("bad.allow"),
        format!("# clients\n{good}handfast-x25519 not-base64!\n"),
    )
    .unwrap();
    let args = server_args(&keys, "server.key", "bad.allow");
    fails_with(
        &strs(&args),
        &[&format!("{} line 3", keys.p("bad.allow")), "base64"],
    );
}

#[test]
fn malformed_private_key_names_file_and_line() {
    let keys = Keys::new();
    let path = keys.path("broken.key");
    std::fs::write(&path, "# my key\nhandfast-x25519-private AAAA\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    fails_with(
        &["pubkey", path.to_str().unwrap()],
        &[&format!("{} line 2", path.display()), "32 bytes"],
    );
}

#[test]
fn unknown_key_in_config_file_is_refused() {
    let keys = Keys::new();
    let path = keys.path("handfast.toml");
    std::fs::write(
        &path,
        "[[server]]\nlisten = \"127.0.0.1:0\"\nforward = \"127.0.0.1:1\"\nkey = \"server.key\"\nallow = \"clients.allow\"\nmax_conections = 5\n",
    )
    .unwrap();
    fails_with(
        &["run", path.to_str().unwrap()],
        &[
            &path.display().to_string(),
            "unknown field `max_conections`",
        ],
    );
}

#[test]
fn address_that_cannot_be_bound_is_named() {
    let keys = Keys::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut args = server_args(&keys, "server.key", "clients.allow");
    args[2] = addr.clone();
    fails_with(
        &strs(&args),
        &[&format!("cannot listen on {addr}"), "in use"],
    );
}

#[test]
fn invalid_level_is_refused() {
    let keys = Keys::new();
    let mut args = server_args(&keys, "server.key", "clients.allow");
    args.extend(["--min-level".into(), "connect".into()]);
    fails_with(&strs(&args), &["invalid protection level \"connect\""]);
}
