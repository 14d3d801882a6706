//! Checks that the C and Go codes generated from the error-kind table are up to date
//! (`build/codes.rs`), and sets the link settings of the C library: on ELF targets the cdylib gets
//! the SONAME `libhttpbatch.so.MAJOR`, so a program linked against it records that name and keeps
//! running across compatible upgrades (the exported symbols only grow,
//! `scripts/check-symbols.sh`). `scripts/install-c.sh` installs `libhttpbatch.so.MAJOR.MINOR.PATCH`
//! with the `.so.MAJOR` and `.so` links, and writes the pkg-config and CMake files. Cheap: no
//! cbindgen (the header is generated and committed separately, see `scripts/gen-header.sh`).

use std::path::PathBuf;

#[path = "build/codes.rs"]
mod codes;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/codes.rs");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    codes::run(&root);
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if !matches!(os.as_str(), "macos" | "ios" | "windows") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhttpbatch.so.{major}");
    }
}
