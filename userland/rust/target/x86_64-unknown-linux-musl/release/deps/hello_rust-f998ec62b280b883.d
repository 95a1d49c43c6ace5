/work/main/userland/rust/target/x86_64-unknown-linux-musl/release/deps/hello_rust-f998ec62b280b883.d: src/bin/hello-rust.rs Cargo.toml

/work/main/userland/rust/target/x86_64-unknown-linux-musl/release/deps/libhello_rust-f998ec62b280b883.rmeta: src/bin/hello-rust.rs Cargo.toml

src/bin/hello-rust.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
