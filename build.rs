//! Link settings for the C library: on Linux and other ELF targets the cdylib gets the SONAME
//! `libhttpbatch.so.MAJOR`, so a program linked against it records that name and keeps running
//! across compatible upgrades (the exported symbols only grow, `scripts/check-symbols.sh`).
//! `scripts/install-c.sh` installs `libhttpbatch.so.MAJOR.MINOR.PATCH` with the `.so.MAJOR` and
//! `.so` links, and writes the pkg-config and CMake files; nothing is written outside `OUT_DIR`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if !matches!(os.as_str(), "macos" | "ios" | "windows") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhttpbatch.so.{major}");
    }
}
