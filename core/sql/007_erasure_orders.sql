-- Layout 7: the office's erasure orders this device has heard of (see
-- core/src/erasure.rs), kept for good and passed on in every session and
-- bundle, so that a device offline for months still learns of them. An
-- order holds ids and hashes only, never the erased values.
CREATE TABLE erasure_orders (
    cell_id TEXT NOT NULL,
    epoch   INTEGER NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (cell_id, epoch)
) WITHOUT ROWID;
