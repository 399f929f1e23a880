//! C-ABI building blocks laid out like filecoin-ffi's (safer_ffi) types, so that
//! `include/filcrypto.h` describes both this crate and a user's own libfilcrypto.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// `FCPResponseStatus` in filcrypto.h.
pub const STATUS_OK: i32 = 0;
pub const STATUS_UNCLASSIFIED: i32 = 1;
pub const STATUS_CALLER_ERROR: i32 = 2;
pub const STATUS_RECEIVER_ERROR: i32 = 3;

/// A borrowed slice (`slice_ref_<T>_t`): the caller keeps ownership.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SliceRef<T> {
    pub ptr: *const T,
    pub len: usize,
}

impl<T> SliceRef<T> {
    /// # Safety
    /// `ptr` must point to `len` valid `T`s for the duration of the call (or be null with len 0).
    pub unsafe fn as_slice<'a>(&self) -> &'a [T] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(self.ptr, self.len)
        }
    }
}

impl SliceRef<u8> {
    /// # Safety
    /// See [`SliceRef::as_slice`].
    pub unsafe fn as_path(&self, what: &str) -> Result<PathBuf, CallerError> {
        let s = std::str::from_utf8(self.as_slice())
            .map_err(|_| CallerError(format!("{what} is not valid UTF-8")))?;
        if s.is_empty() {
            return Err(CallerError(format!("{what} is empty")));
        }
        Ok(PathBuf::from(s))
    }
}

/// An owned slice (`slice_boxed_<T>_t`) allocated by Rust, freed by a destroy function.
#[repr(C)]
pub struct SliceBox<T> {
    pub ptr: *mut T,
    pub len: usize,
}

impl<T> Default for SliceBox<T> {
    fn default() -> Self {
        SliceBox { ptr: std::ptr::null_mut(), len: 0 }
    }
}

impl<T> From<Vec<T>> for SliceBox<T> {
    fn from(v: Vec<T>) -> Self {
        let mut b = v.into_boxed_slice();
        let out = SliceBox { ptr: b.as_mut_ptr(), len: b.len() };
        std::mem::forget(b);
        out
    }
}

impl<T> Drop for SliceBox<T> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // Safety: ptr/len came from a boxed slice in `From<Vec<T>>`.
            unsafe {
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len)));
            }
            self.ptr = std::ptr::null_mut();
        }
    }
}

/// `Result<T>` in filecoin-ffi: a status code, an error message and the value.
#[repr(C)]
pub struct Response<T> {
    pub status_code: i32,
    pub error_msg: SliceBox<u8>,
    pub value: T,
}

/// An error that is the caller's fault (bad path, bad enum value, bad bytes).
#[derive(Debug)]
pub struct CallerError(pub String);

impl std::fmt::Display for CallerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallerError {}

fn panic_message(p: &Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `f`, turning an error into a status + message and a panic into a
/// receiver error: no panic ever unwinds across the C ABI.
pub fn respond<T: Default>(
    name: &str,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> *mut Response<T> {
    let (status_code, msg, value) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => (STATUS_OK, String::new(), v),
        Ok(Err(e)) => {
            let code = if e.downcast_ref::<CallerError>().is_some() {
                STATUS_CALLER_ERROR
            } else {
                STATUS_UNCLASSIFIED
            };
            (code, format!("{name}: {e:#}"), T::default())
        }
        Err(p) => (
            STATUS_RECEIVER_ERROR,
            format!("{name}: panic in proofs library: {}", panic_message(&p)),
            T::default(),
        ),
    };
    Box::into_raw(Box::new(Response {
        status_code,
        error_msg: msg.into_bytes().into(),
        value,
    }))
}

/// Frees a response made by [`respond`].
///
/// # Safety
/// `ptr` must come from `respond` and be freed once.
pub unsafe fn destroy<T>(ptr: *mut Response<T>) {
    if !ptr.is_null() {
        drop(Box::from_raw(ptr));
    }
}
