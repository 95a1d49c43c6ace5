//! The smallest Rust program Isola runs: one line on stdout, exit 0.

fn main() {
    println!("hello from Rust");
}
