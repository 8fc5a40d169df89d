//! A layer tar as `--from` reads it (applied twice, as two layers).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rechunk_oci::fuzz::layer_tar(data);
});
