//! The uniffi-bindgen of this workspace, pinned to the uniffi version
//! silin-ffi is built with, so generated bindings always match the library.
//! Run through bindings/generate, not by hand.

fn main() {
    uniffi::uniffi_bindgen_main()
}
