//! What automerge may see of a peer's bytes (`silin_core::guard`): the
//! guard's walkers never panic on any input, and whatever they let through,
//! automerge decodes or merges inside `guard::contain` into a cell store
//! without a panic escaping and without the store taking anything that does
//! not pass its checks. The first byte picks the path: saved bytes merged
//! into a store, or a sync message decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::{guard, Store, StoreOptions};
use std::sync::OnceLock;

fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            // automerge's own panics are contained by design; keep the
            // fuzzer's abort-on-panic hook for ours only (a panic outside
            // `contain` still unwinds out of the target and aborts).
            std::panic::set_hook(Box::new(|_| {}));
            let dir = tempfile::tempdir().expect("a temporary directory");
            let store = Store::open(
                dir.path().join("fuzz.db"),
                StoreOptions {
                    durability: silin_core::Durability::Normal,
                    ..Default::default()
                },
            )
            .expect("a store");
            (dir, store)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let store = store();
    if selector % 2 == 0 {
        if guard::saved(bytes).is_ok() {
            // Refused or taken, never a panic; a taken cell reads back.
            if let Ok((id, _)) = store.merge_bytes(bytes) {
                store.cell(&id).expect("a merged cell reads back");
            }
        }
    } else if guard::sync_message(bytes).is_ok() {
        let _ = guard::contain(|| automerge::sync::Message::decode(bytes));
    }
});
