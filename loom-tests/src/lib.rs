//! loom models of taskweave's concurrency protocols live in `tests/`; run them with
//! `RUSTFLAGS="--cfg taskweave_loom" cargo test -p taskweave-loom-tests --release`.
