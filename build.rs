//! Writes the pkg-config file `httpbatch.pc` for C users next to the built libraries
//! (`target/<profile>/httpbatch.pc`) and into `OUT_DIR`, and checks that the C and Go codes
//! generated from the error-kind table are up to date (`build/codes.rs`). Cheap: no cbindgen (the
//! header is generated and committed separately, see `scripts/gen-header.sh`).
//!
//! The prefix defaults to `/usr/local`; `HTTPBATCH_PREFIX` overrides it, and
//! `scripts/install-c.sh PREFIX` rewrites it when it installs.

use std::path::PathBuf;

#[path = "build/codes.rs"]
mod codes;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/codes.rs");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    codes::run(&root);
    println!("cargo:rerun-if-env-changed=HTTPBATCH_PREFIX");
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let prefix = std::env::var("HTTPBATCH_PREFIX").unwrap_or_else(|_| "/usr/local".into());
    // What the static library needs from the system (`--print native-static-libs` on Linux).
    let private = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";
    let pc = format!(
        "prefix={prefix}\n\
         exec_prefix=${{prefix}}\n\
         libdir=${{exec_prefix}}/lib\n\
         includedir=${{prefix}}/include\n\
         static_libs={private}\n\
         \n\
         Name: httpbatch\n\
         Description: Synchronous, thread-based HTTP batch client (C ABI)\n\
         Version: {version}\n\
         Cflags: -I${{includedir}}\n\
         Libs: -L${{libdir}} -lhttpbatch\n\
         Libs.private: ${{static_libs}}\n"
    );
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("httpbatch.pc"), &pc).expect("write OUT_DIR/httpbatch.pc");
    // OUT_DIR is <target>/<profile>/build/httpbatch-<hash>/out: put a copy beside the libraries.
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        if profile_dir.join("build").is_dir() {
            let _ = std::fs::write(profile_dir.join("httpbatch.pc"), &pc);
        }
    }
}
