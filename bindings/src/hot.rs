//! The visit writes a lead makes at every door, in one plain native call
//! from the JVM.
//!
//! uniffi's Kotlin reaches Rust through JNA with a call-status structure per
//! crossing, which JNA allocates and fills by reflection: a `recordVisit`
//! makes five crossings (the handle's clone, a buffer per argument, the
//! call, freeing the result) at about 8 µs each on this machine, against
//! about 0.2 µs for a JNA call that passes only numbers and byte arrays.
//! These functions are such calls. Their arguments and replies are in
//! uniffi's own serialization, so the Kotlin package's `VisitWriter` reuses
//! the generated converters, and a visit goes through the same conversion,
//! rules and errors as `Store.record_visit`.
//!
//! A reply is one status byte ([`OK`], [`FAILED`] with a `StoreError`, or
//! [`PANICKED`] with a message) and its payload. A call returns the reply's
//! length when it fit in the caller's buffer; otherwise minus its length,
//! and the reply waits on the calling thread for [`silin_hot_reply`].
//!
//! A writer is a number naming a store handle ([`open_visit_writer`]), so no
//! pointer crosses: a number closed or never given answers `Closed`.

use crate::convert::NewVisit;
use crate::error::StoreError;
use crate::store::{open_store, Shared};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const OK: u8 = 0;
const FAILED: u8 = 1;
const PANICKED: u8 = 2;

static WRITERS: Mutex<Option<HashMap<u64, Shared>>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// A reply too long for the caller's buffer, until it asks for it.
    static WAITING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn writers() -> std::sync::MutexGuard<'static, Option<HashMap<u64, Shared>>> {
    WRITERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Names `shared` for the hot calls; [`close_visit_writer`] lets it go.
pub(crate) fn open(shared: Shared) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    writers()
        .get_or_insert_with(HashMap::new)
        .insert(id, shared);
    id
}

/// Lets a writer's store handle go; later calls on it answer `Closed`.
/// Closing one twice, or one never opened, does nothing.
pub fn close_visit_writer(writer: u64) {
    if let Some(map) = writers().as_mut() {
        map.remove(&writer);
    }
}

fn store_of(writer: u64) -> Result<std::sync::Arc<silin_core::Store>, StoreError> {
    let shared = writers()
        .as_ref()
        .and_then(|m| m.get(&writer).cloned())
        .ok_or_else(StoreError::closed)?;
    open_store(&shared).ok_or_else(StoreError::closed)
}

/// Reads one value in uniffi's serialization, all of `bytes` and no more.
fn lift<T: uniffi::Lift<crate::UniFfiTag>>(what: &str, mut bytes: &[u8]) -> Result<T, StoreError> {
    let bad = || {
        StoreError::invalid(
            what,
            "the bytes are not one value in uniffi's serialization; pass what the generated converter writes",
        )
    };
    let value = T::try_read(&mut bytes).map_err(|_| bad())?;
    if !bytes.is_empty() {
        return Err(bad());
    }
    Ok(value)
}

fn utf8(what: &str, bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::invalid(what, "must be UTF-8"))
}

/// The caller's bytes at `ptr` (`len` of them).
///
/// # Safety
/// `ptr` must point at `len` readable bytes for the call, or `len` be 0.
unsafe fn input<'a>(what: &str, ptr: *const u8, len: i32) -> Result<&'a [u8], StoreError> {
    match usize::try_from(len) {
        Ok(0) => Ok(&[]),
        Ok(n) if !ptr.is_null() => Ok(std::slice::from_raw_parts(ptr, n)),
        _ => Err(StoreError::invalid(what, "a buffer with a length ≥ 0")),
    }
}

/// Runs `call` without letting a panic cross, and writes its reply.
///
/// # Safety
/// `out` must point at `cap` writable bytes for the call, or `cap` be 0.
unsafe fn reply(out: *mut u8, cap: i32, call: impl FnOnce() -> Result<Vec<u8>, StoreError>) -> i32 {
    let bytes = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(Ok(payload)) => [&[OK][..], &payload].concat(),
        Ok(Err(e)) => {
            let mut b = vec![FAILED];
            <StoreError as uniffi::Lower<crate::UniFfiTag>>::write(e, &mut b);
            b
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic in silin".to_string());
            [&[PANICKED][..], what.as_bytes()].concat()
        }
    };
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    match usize::try_from(cap) {
        Ok(cap) if !out.is_null() && bytes.len() <= cap => {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
            len
        }
        _ => {
            WAITING.with(|w| *w.borrow_mut() = bytes);
            -len
        }
    }
}

/// `Store.record_visit` for writer `writer`: `cell` the cell id in UTF-8,
/// `visit` a `NewVisit` in uniffi's serialization. The reply's payload is
/// the new visit's id in UTF-8.
///
/// # Safety
/// `cell`, `visit` and `out` must point at `cell_len`, `visit_len` and
/// `cap` bytes for the call (or their length be 0); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn silin_hot_record_visit(
    writer: u64,
    cell: *const u8,
    cell_len: i32,
    visit: *const u8,
    visit_len: i32,
    out: *mut u8,
    cap: i32,
) -> i32 {
    reply(out, cap, || {
        let cell_id = utf8("cell_id", input("cell_id", cell, cell_len)?)?;
        let visit: NewVisit = lift("visit", input("visit", visit, visit_len)?)?;
        let store = store_of(writer)?;
        Ok(crate::store::record_visit(&store, &cell_id, visit)?.into_bytes())
    })
}

/// `Store.record_visits` for writer `writer`: `visits` a list of `NewVisit`
/// in uniffi's serialization. The reply's payload is the ids, a list of
/// strings in uniffi's serialization.
///
/// # Safety
/// As for [`silin_hot_record_visit`].
#[no_mangle]
pub unsafe extern "C" fn silin_hot_record_visits(
    writer: u64,
    cell: *const u8,
    cell_len: i32,
    visits: *const u8,
    visits_len: i32,
    out: *mut u8,
    cap: i32,
) -> i32 {
    reply(out, cap, || {
        let cell_id = utf8("cell_id", input("cell_id", cell, cell_len)?)?;
        let visits: Vec<NewVisit> = lift("visits", input("visits", visits, visits_len)?)?;
        let store = store_of(writer)?;
        let ids = crate::store::record_visits(&store, &cell_id, visits)?;
        let mut payload = Vec::new();
        <Vec<String> as uniffi::Lower<crate::UniFfiTag>>::write(ids, &mut payload);
        Ok(payload)
    })
}

/// Copies the reply a call on this thread left waiting into `out`, and
/// forgets it. Returns its length, or minus its length if `cap` is short
/// (then it stays), or 0 if none waits.
///
/// # Safety
/// `out` must point at `cap` writable bytes for the call.
#[no_mangle]
pub unsafe extern "C" fn silin_hot_reply(out: *mut u8, cap: i32) -> i32 {
    WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let len = i32::try_from(w.len()).unwrap_or(i32::MAX);
        match usize::try_from(cap) {
            Ok(cap) if !out.is_null() && w.len() <= cap => {
                std::ptr::copy_nonoverlapping(w.as_ptr(), out, w.len());
                w.clear();
                len
            }
            _ => -len,
        }
    })
}
