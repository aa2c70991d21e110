//! `keygen` and `pubkey`, and loading key material with errors that name the file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aws_lc_rs::rand::SecureRandom;
use handfast_noise::{PrivateKey, PublicKey, TrustSet};

pub(crate) fn keygen(out: &Path, comment: Option<&str>) -> anyhow::Result<()> {
    let public_path = pub_path(out);
    for p in [out, public_path.as_path()] {
        if p.exists() {
            bail!("{} already exists; refusing to overwrite it", p.display());
        }
    }
    let comment = comment.map(str::to_owned).unwrap_or_else(|| {
        out.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "handfast".into())
    });
    let key = write_pair(out, &comment)?;
    println!(
        "wrote {} (private key, mode 0600) and {}:",
        out.display(),
        public_path.display()
    );
    println!("{}", key.public_key(""));
    Ok(())
}

/// Writes a new key pair: `out` (mode 0600) and `out.pub`.
pub(crate) fn write_pair(out: &Path, comment: &str) -> anyhow::Result<PrivateKey> {
    let key = generate()?.with_comment(comment);
    write_new(out, key.to_file_string().as_bytes(), 0o600)?;
    let line = format!("{}\n", key.public_key(""));
    write_new(&pub_path(out), line.as_bytes(), 0o644)?;
    Ok(key)
}

pub(crate) fn pubkey(path: &Path) -> anyhow::Result<()> {
    let key = load_private(path)?;
    println!("{}", key.public_key(""));
    Ok(())
}

/// A new key from the operating system's random source.
pub(crate) fn generate() -> anyhow::Result<PrivateKey> {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| anyhow::anyhow!("the operating system's random source failed"))?;
    Ok(PrivateKey::from_seed(seed))
}

pub(crate) fn load_private(path: &Path) -> anyhow::Result<PrivateKey> {
    Ok(PrivateKey::load(path)?)
}

pub(crate) fn load_allow(path: &Path) -> anyhow::Result<TrustSet> {
    let set = TrustSet::load(path)?;
    if set.is_empty() {
        tracing::warn!("{}: no keys: every client will be refused", path.display());
    }
    Ok(set)
}

pub(crate) fn load_public(path: &Path) -> anyhow::Result<PublicKey> {
    Ok(PublicKey::load(path)?)
}

pub(crate) fn pub_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `bytes` to `path` with `mode`, replacing it atomically: a reader (a daemon watching
/// the file) sees the old content or the new, never a part.
pub(crate) fn write_replace(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
