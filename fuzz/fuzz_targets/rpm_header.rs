//! An rpm header blob, as a row of `rpmdb.sqlite`'s `Packages` table holds it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rechunk_rpmdb::Package::from_header(1, data);
});
