//! End-to-end tests of silin that need more than one process: the crash
//! test (`tests/crash.rs`) runs the `crash-writer` binary and kills it.
