//! Links the system AMR libraries used by `src/media/codec/amr_ffi.rs`.
//!
//! Debian packages: libopencore-amrnb-dev, libopencore-amrwb-dev, libvo-amrwbenc-dev (installed by
//! `tools/setup`). Opus is linked by `audiopus_sys` the same way (pkg-config, Debian's libopus-dev).

fn main() {
    for (lib, package) in [
        ("opencore-amrnb", "libopencore-amrnb-dev"),
        ("opencore-amrwb", "libopencore-amrwb-dev"),
        ("vo-amrwbenc", "libvo-amrwbenc-dev"),
    ] {
        if let Err(e) = pkg_config::Config::new().probe(lib) {
            // A build script has no better channel than a failed build; say what to install.
            panic!("ncgw needs the system library {lib}: run ./tools/setup (Debian package {package}): {e}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
