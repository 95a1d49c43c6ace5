/work/main/userland/rust/target/x86_64-unknown-linux-musl/release/deps/test_rust-e9af820a89a82611.d: src/bin/test-rust.rs Cargo.toml

/work/main/userland/rust/target/x86_64-unknown-linux-musl/release/deps/libtest_rust-e9af820a89a82611.rmeta: src/bin/test-rust.rs Cargo.toml

src/bin/test-rust.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
