//! Compiles the client side of proto/rul/v1/prediction.proto into OUT_DIR (the contract both sides build from).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded at this point; PROTOC is read by prost-build below.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest.join("../../proto");
    let proto = proto_root.join("rul/v1/prediction.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&[proto], &[proto_root])?;
    Ok(())
}
