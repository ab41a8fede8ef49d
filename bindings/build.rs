// The scaffolding is generated from the one committed contract, udl/silin.udl.
// The crate is named outright: the UDL sits outside this crate, next to the
// workspace manifest, where uniffi would otherwise look for it.
fn main() {
    println!("cargo:rerun-if-changed=../udl/silin.udl");
    if let Err(e) = uniffi::generate_scaffolding_for_crate("../udl/silin.udl", "silin_ffi") {
        eprintln!("cannot generate scaffolding from udl/silin.udl: {e:#}");
        std::process::exit(1);
    }
}
