//! Rebuilds this crate when a migration is added or changed: `sqlx::migrate!`
//! embeds the directory at compile time, and cargo does not watch it on
//! its own (as sqlx's documentation of the macro recommends).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
