//! A throwaway MIT Kerberos realm on loopback, for tests and trials: a KDC on an unprivileged
//! port, its database and configuration in a folder of the caller's, no root daemons and no
//! change to `/etc`. It needs Debian's `krb5-kdc`, `krb5-admin-server` and `krb5-user` (the
//! programs `kdb5_util`, `kadmin.local`, `krb5kdc` and `kinit`).
//!
//! The KDC runs under a small shell that stops it (and removes a [`Realm::temporary`] folder)
//! when its standard input closes, which happens when the [`Realm`] is dropped *or* when this
//! process exits in any way, so no KDC outlives its test.
//!
//! Programs that use the realm need its [`env`](Realm::env) (`KRB5_CONFIG` and friends). A
//! process that uses GSS-API itself must set them before its first GSS-API call.

use std::io::{self, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The realm's name.
pub const REALM: &str = "HANDFAST.TEST";

/// A running throwaway realm. Dropping it stops the KDC.
pub struct Realm {
    dir: PathBuf,
    port: u16,
    kdc: Child,
    /// Whether the folder is the realm's own, removed with it.
    owns_dir: bool,
}

impl Realm {
    /// Creates the realm's database in `dir` (which must exist and be empty of a previous
    /// realm) and starts its KDC on a free loopback port. `clockskew` is the realm's tolerance
    /// for clocks and expired tickets, in seconds (MIT's default is 300).
    ///
    /// # Errors
    /// A missing program, or a KDC that does not come up within ten seconds.
    pub fn start(dir: &Path, clockskew: u32) -> io::Result<Self> {
        Self::start_in(dir, clockskew, false)
    }

    /// As [`start`](Self::start), in a new temporary folder that is removed when the realm is
    /// dropped or this process exits, whichever comes first.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn temporary(clockskew: u32) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("handfast-realm")
            .tempdir()?
            .keep();
        Self::start_in(&dir, clockskew, true)
    }

    fn start_in(dir: &Path, clockskew: u32, owns_dir: bool) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            write_config(dir, port, clockskew)?;
            let realm_dir = dir.to_path_buf();
            if !dir.join("principal").exists() {
                run(command_in(&realm_dir, port, "kdb5_util").args([
                    "create",
                    "-s",
                    "-r",
                    REALM,
                    "-P",
                    "handfast-master-password",
                ]))?;
            }
            let mut kdc = command_in(&realm_dir, port, "sh")
                .arg("-c")
                .arg(
                    r#""$1" -n -P "$2" & pid=$!; read _; kill $pid; wait $pid; [ -z "$3" ] || rm -rf "$3""#,
                )
                .arg("sh")
                .arg(program("krb5kdc"))
                .arg(dir.join("kdc.pid"))
                .arg(if owns_dir { dir.as_os_str() } else { "".as_ref() })
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Self {
                        dir: dir.to_path_buf(),
                        port,
                        kdc,
                        owns_dir,
                    });
                }
                if let Ok(Some(_)) = kdc.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Closing the shell's input stops the KDC with it (killing the shell would not).
            drop(kdc.stdin.take());
            let _ = kdc.wait();
            last = Some(io::Error::other(format!(
                "the KDC did not come up on 127.0.0.1:{port}; its log: {}",
                std::fs::read_to_string(dir.join("kdc.log")).unwrap_or_default()
            )));
        }
        Err(last.unwrap_or_else(|| io::Error::other("the KDC did not start")))
    }

    /// The realm's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The KDC's port on 127.0.0.1 (TCP and UDP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The environment of a program that uses the realm: its configuration, a replay cache
    /// folder of its own, and a default credential cache in the realm's folder.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env(&self.dir)
    }

    /// A command for `program` (looked up in `PATH`, then `/usr/sbin`) in the realm's
    /// environment.
    pub fn command(&self, program: &str) -> Command {
        command_in(&self.dir, self.port, program)
    }

    /// Runs one `kadmin.local` query (`addprinc -pw pw alice`, `ktadd -k FILE host/x`, ...).
    ///
    /// # Errors
    /// When it fails, with its output.
    pub fn admin(&self, query: &str) -> io::Result<String> {
        run(self.command("kadmin.local").args(["-q", query]))
    }

    /// Adds a user with a password.
    ///
    /// # Errors
    /// As [`admin`](Self::admin).
    pub fn add_user(&self, name: &str, password: &str) -> io::Result<()> {
        self.admin(&format!("addprinc -pw {password} {name}"))
            .map(drop)
    }

    /// Adds a service principal with a random key and writes its key to `keytab` (appending
    /// when the file exists; each call for the same principal makes a new key version).
    ///
    /// # Errors
    /// As [`admin`](Self::admin).
    pub fn add_service(&self, principal: &str, keytab: &Path) -> io::Result<()> {
        self.admin(&format!("addprinc -randkey {principal}"))?;
        self.export_key(principal, keytab)
    }

    /// Makes a new key for `principal` (the KDC's key version goes up) and appends it to
    /// `keytab`.
    ///
    /// # Errors
    /// As [`admin`](Self::admin).
    pub fn export_key(&self, principal: &str, keytab: &Path) -> io::Result<()> {
        self.admin(&format!("ktadd -k {} {principal}", keytab.display()))
            .map(drop)
    }

    /// `kinit` of `principal` with `password` into the credential cache `ccache`
    /// (`FILE:/path`), for `lifetime` (`10s`, `1h`; the realm's maximum if `None`).
    ///
    /// # Errors
    /// When `kinit` fails, with its output.
    pub fn kinit(
        &self,
        principal: &str,
        password: &str,
        ccache: &str,
        lifetime: Option<&str>,
    ) -> io::Result<()> {
        let mut cmd = self.command("kinit");
        cmd.args(["-c", ccache]);
        if let Some(l) = lifetime {
            cmd.args(["-l", l]);
        }
        cmd.arg(principal);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{password}")?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "kinit {principal}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// `kinit -k -t keytab principal`: a ticket from a keytab, with no password.
    ///
    /// # Errors
    /// When `kinit` fails, with its output.
    pub fn kinit_keytab(&self, principal: &str, keytab: &Path, ccache: &str) -> io::Result<()> {
        run(self
            .command("kinit")
            .args(["-c", ccache, "-k", "-t"])
            .arg(keytab)
            .arg(principal))
        .map(drop)
    }
}

impl Drop for Realm {
    fn drop(&mut self) {
        // Closing the shell's standard input makes it stop the KDC.
        drop(self.kdc.stdin.take());
        let _ = self.kdc.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The environment of programs using the realm in `dir`.
pub fn env(dir: &Path) -> Vec<(&'static str, String)> {
    let rcache = dir.join("rcache");
    let _ = std::fs::create_dir_all(&rcache);
    vec![
        ("KRB5_CONFIG", dir.join("krb5.conf").display().to_string()),
        (
            "KRB5_KDC_PROFILE",
            dir.join("kdc.conf").display().to_string(),
        ),
        ("KRB5RCACHEDIR", rcache.display().to_string()),
        (
            "KRB5CCNAME",
            format!("FILE:{}", dir.join("ccache").display()),
        ),
        (
            "KRB5_KTNAME",
            format!("FILE:{}", dir.join("default.keytab").display()),
        ),
    ]
}

fn command_in(dir: &Path, _port: u16, program: &str) -> Command {
    let mut cmd = Command::new(self::program(program));
    cmd.envs(env(dir));
    cmd
}

/// `program` from `PATH`, else from `/usr/sbin` (where Debian puts the KDC's programs, which
/// is not on an ordinary user's `PATH`).
pub fn program(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    if !on_path && sbin.is_file() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{:?}: {e}", cmd.get_program())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(io::Error::other(format!(
            "{:?} {:?} failed: {text}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>()
        )))
    }
}

/// A port free on 127.0.0.1 for both TCP and UDP (the KDC listens on both).
fn free_port() -> io::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no port free for both TCP and UDP"))
}

fn write_config(dir: &Path, port: u16, clockskew: u32) -> io::Result<()> {
    let d = dir.display();
    std::fs::write(
        dir.join("krb5.conf"),
        format!(
            "[libdefaults]\n\
             \tdefault_realm = {REALM}\n\
             \tdns_lookup_kdc = false\n\
             \tdns_lookup_realm = false\n\
             \trdns = false\n\
             \tdns_canonicalize_hostname = false\n\
             \tclockskew = {clockskew}\n\
             \tudp_preference_limit = 1\n\
             [realms]\n\
             \t{REALM} = {{\n\t\tkdc = 127.0.0.1:{port}\n\t}}\n\
             [domain_realm]\n\
             \tlocalhost = {REALM}\n\
             \t127.0.0.1 = {REALM}\n"
        ),
    )?;
    std::fs::write(
        dir.join("kdc.conf"),
        format!(
            "[kdcdefaults]\n\
             \tkdc_ports = {port}\n\
             \tkdc_tcp_ports = {port}\n\
             [realms]\n\
             \t{REALM} = {{\n\
             \t\tdatabase_name = {d}/principal\n\
             \t\tkey_stash_file = {d}/stash\n\
             \t\tacl_file = {d}/kadm5.acl\n\
             \t\tkdc_listen = 127.0.0.1:{port}\n\
             \t\tkdc_tcp_listen = 127.0.0.1:{port}\n\
             \t\tmax_life = 10h\n\
             \t\tsupported_enctypes = aes256-cts-hmac-sha1-96:normal aes256-cts-hmac-sha384-192:normal\n\
             \t}}\n\
             [logging]\n\
             \tkdc = FILE:{d}/kdc.log\n"
        ),
    )?;
    std::fs::write(dir.join("kadm5.acl"), "")?;
    Ok(())
}
