//! Credentials from an explicit credential store (MIT's `gss_acquire_cred_from`): a keytab,
//! a client keytab or a credential cache named per mechanism, rather than through the
//! process-wide `KRB5_KTNAME` and `KRB5CCNAME`, so that one process can serve several
//! services with keytabs of their own. The only unsafe code of this crate: `libgssapi` has no
//! safe wrapper for this call.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::ptr;

use libgssapi::credential::{Cred, CredUsage};
use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi_sys::{
    _GSS_C_INDEFINITE, GSS_C_ACCEPT, GSS_C_INITIATE, GSS_S_COMPLETE, OM_uint32,
    gss_acquire_cred_from, gss_cred_id_t, gss_cred_usage_t, gss_key_value_element_desc,
    gss_key_value_set_desc,
};

/// Acquires credentials for `usage` from `store` (`("keytab", path)`, `("client_keytab",
/// path)`, `("ccache", name)`), for the default name and mechanisms. An empty store means the
/// process defaults (the credential cache of `KRB5CCNAME`, the keytab of `KRB5_KTNAME`).
pub(crate) fn acquire(usage: CredUsage, store: &[(&str, &str)]) -> Result<Cred, String> {
    if store.is_empty() {
        return Cred::acquire(None, None, usage, None).map_err(|e| crate::error::describe(&e));
    }
    let owned = store
        .iter()
        .map(|(k, v)| Ok((CString::new(*k)?, CString::new(*v)?)))
        .collect::<Result<Vec<_>, std::ffi::NulError>>()
        .map_err(|_| "a credential store path contains a NUL byte".to_string())?;
    let mut elements: Vec<gss_key_value_element_desc> = owned
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
    let usage = match usage {
        CredUsage::Initiate => GSS_C_INITIATE,
        CredUsage::Accept => GSS_C_ACCEPT,
        CredUsage::Both => libgssapi_sys::GSS_C_BOTH,
    };
    let mut minor: OM_uint32 = 0;
    let mut cred: gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `set` and the strings it points into live
    // until it returns (GSS copies what it keeps); a null name and a null mechanism set are
    // GSS_C_NO_NAME and GSS_C_NO_OID_SET; the two optional outputs are null (not wanted).
    let major = unsafe {
        gss_acquire_cred_from(
            &mut minor,
            ptr::null_mut(),
            _GSS_C_INDEFINITE,
            ptr::null_mut(),
            usage as gss_cred_usage_t,
            &set,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if major == GSS_S_COMPLETE {
        // SAFETY: a credential handle GSS just returned to us, owned by nobody else; `Cred`
        // releases it once.
        Ok(unsafe { Cred::from_c(cred) })
    } else {
        Err(crate::error::describe(&GssError {
            major: MajorFlags::from_bits_retain(major),
            minor,
        }))
    }
}
