//! Credentials from an explicit credential store (MIT's `gss_acquire_cred_from`): a keytab,
//! a client keytab or a credential cache named per mechanism, rather than through the
//! process-wide `KRB5_KTNAME` and `KRB5CCNAME`, so that one process can serve several
//! services with keytabs of their own; and for the named GSS-API mechanisms only, so that an
//! acceptor does not also take SPNEGO (or NTLM, where gss-ntlmssp is installed) where it
//! should not. The only unsafe code of this crate: `libgssapi` has no safe wrapper for this
//! call.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::ptr;

use libgssapi::credential::{Cred, CredUsage};
use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi_sys::{
    _GSS_C_INDEFINITE, GSS_C_ACCEPT, GSS_C_BOTH, GSS_C_INITIATE, GSS_S_COMPLETE, OM_uint32,
    gss_OID_desc, gss_OID_set_desc, gss_acquire_cred_from, gss_cred_id_t, gss_cred_usage_t,
    gss_key_value_element_desc, gss_key_value_set_desc,
};

/// 1.2.840.113554.1.2.2, Kerberos V5, DER content bytes.
const KRB5_OID: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// 1.3.6.1.5.5.2, SPNEGO.
const SPNEGO_OID: &[u8] = b"\x2b\x06\x01\x05\x05\x02";

/// Which GSS-API mechanisms a credential is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mechs {
    /// Kerberos V5 only (the native mode).
    Krb5,
    /// Kerberos V5 and SPNEGO (GSS mode, for SSPI's Negotiate).
    Krb5AndSpnego,
}

/// The entries of a credential store (`gss_acquire_cred_from`'s `cred_store`).
#[derive(Default)]
pub(crate) struct Store {
    entries: Vec<(CString, CString)>,
}

impl Store {
    /// `keytab`: the acceptor's keys, from a file.
    pub(crate) fn keytab(self, path: &Path) -> Result<Self, String> {
        self.with("keytab", &file(path))
    }

    /// `client_keytab`: an initiator's keys, from a file; with a private in-memory cache for
    /// the tickets obtained from it (never the user's default cache).
    pub(crate) fn client_keytab(self, path: &Path) -> Result<Self, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cache = format!("MEMORY:handfast-{}-{n}", std::process::id());
        self.with("client_keytab", &file(path))?
            .with("ccache", cache.as_bytes())
    }

    /// `ccache`: a credential cache by name (`FILE:/path`, `KEYRING:...`, `KCM:`).
    pub(crate) fn ccache(self, name: &str) -> Result<Self, String> {
        self.with("ccache", name.as_bytes())
    }

    fn with(mut self, key: &str, value: &[u8]) -> Result<Self, String> {
        let nul = |_| "a credential store name or path contains a NUL byte".to_string();
        self.entries.push((
            CString::new(key).map_err(nul)?,
            CString::new(value).map_err(nul)?,
        ));
        Ok(self)
    }
}

/// A path as a `FILE:` residual, byte for byte (so that a relative path holding a `:` is not
/// read as another kind of keytab).
fn file(path: &Path) -> Vec<u8> {
    let mut v = b"FILE:".to_vec();
    v.extend_from_slice(path.as_os_str().as_bytes());
    v
}

/// Acquires credentials for `usage` and `mechs` from `store`, for the default name. An empty
/// store means the process defaults (the credential cache of `KRB5CCNAME`, the keytab of
/// `KRB5_KTNAME`).
pub(crate) fn acquire(usage: CredUsage, mechs: Mechs, store: &Store) -> Result<Cred, String> {
    let mut elements: Vec<gss_key_value_element_desc> = store
        .entries
        .iter()
        .map(|(k, v)| gss_key_value_element_desc {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let set = gss_key_value_set_desc {
        count: OM_uint32::try_from(elements.len()).map_err(|_| "too many store entries")?,
        elements: elements.as_mut_ptr(),
    };
    let mut oids: Vec<gss_OID_desc> = match mechs {
        Mechs::Krb5 => vec![oid(KRB5_OID)],
        Mechs::Krb5AndSpnego => vec![oid(KRB5_OID), oid(SPNEGO_OID)],
    };
    let mut oid_set = gss_OID_set_desc {
        count: oids.len(),
        elements: oids.as_mut_ptr(),
    };
    let usage = match usage {
        CredUsage::Initiate => GSS_C_INITIATE,
        CredUsage::Accept => GSS_C_ACCEPT,
        CredUsage::Both => GSS_C_BOTH,
    };
    let mut minor: OM_uint32 = 0;
    let mut cred: gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `set`, `oid_set` and what they point into
    // (the strings of `store`, `elements`, `oids` and the static OID bytes) live until it
    // returns, and GSS-API only reads them (it copies what it keeps); a null name is
    // GSS_C_NO_NAME; the two optional outputs are null (not wanted).
    let major = unsafe {
        gss_acquire_cred_from(
            &mut minor,
            ptr::null_mut(),
            _GSS_C_INDEFINITE,
            &mut oid_set,
            usage as gss_cred_usage_t,
            if store.entries.is_empty() {
                ptr::null()
            } else {
                &set
            },
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if major == GSS_S_COMPLETE {
        // SAFETY: a credential handle GSS-API just returned to us, owned by nobody else;
        // `Cred` releases it once.
        Ok(unsafe { Cred::from_c(cred) })
    } else {
        Err(crate::error::describe(&GssError {
            major: MajorFlags::from_bits_retain(major),
            minor,
        }))
    }
}

fn oid(bytes: &'static [u8]) -> gss_OID_desc {
    gss_OID_desc {
        // The OIDs above are a few bytes long.
        length: bytes.len() as OM_uint32,
        elements: bytes.as_ptr().cast_mut().cast(),
    }
}
