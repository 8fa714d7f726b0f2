// SPDX-License-Identifier: GPL-2.0
//! Binds libva's driver interface (`va/va_backend.h`) and the V4L2 uAPI with bindgen, and names
//! the driver's entry point after the libva it is built against (`__vaDriverInit_1_<minor>`:
//! libva looks for its own minor version first, then older ones).

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .allowlist_function("")
        .allowlist_type("VA.*|_VA.*|v4l2_.*|media_.*|dma_buf_.*")
        .allowlist_var("VA_.*|V4L2_.*|MEDIA_.*|DMA_BUF_.*|VA[A-Z].*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false);
    if target.starts_with("aarch64") {
        // Debian's multiarch headers of the target (asm/ from linux-libc-dev:arm64)
        builder = builder.clang_args([
            "--target=aarch64-linux-gnu",
            "-I/usr/include/aarch64-linux-gnu",
        ]);
    }
    let bindings = builder.generate().expect("bindgen failed on wrapper.h");
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("cannot write bindings.rs");

    let version = fs::read_to_string("/usr/include/va/va_version.h").expect("va/va_version.h");
    let num = |name: &str| -> u32 {
        version
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name}")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in va_version.h"))
    };
    let (major, minor) = (num("VA_MAJOR_VERSION"), num("VA_MINOR_VERSION"));
    fs::write(
        out.join("init.rs"),
        format!(
            "/// libva's entry point into the driver.\n\
             ///\n\
             /// # Safety\n\
             /// `ctx` is libva's driver context.\n\
             #[unsafe(export_name = \"__vaDriverInit_{major}_{minor}\")]\n\
             pub unsafe extern \"C\" fn va_driver_init(ctx: VADriverContextP) -> VAStatus {{\n\
             \x20   // SAFETY: libva passes its driver context, valid for the call\n\
             \x20   unsafe {{ init(ctx, {major}, {minor}) }}\n\
             }}\n"
        ),
    )
    .unwrap();
}
