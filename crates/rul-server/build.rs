//! Compiles proto/rul/v1/prediction.proto into OUT_DIR (never src/) plus a descriptor set for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded at this point; PROTOC is read by prost-build below.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest.join("../../proto");
    let proto = proto_root.join("rul/v1/prediction.proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    println!("cargo:rerun-if-changed={}", proto.display());
    // Type names let the codec name the message a client got wrong; the codec answers INVALID_ARGUMENT for it.
    let mut prost_config = tonic_prost_build::Config::new();
    prost_config.enable_type_names();
    tonic_prost_build::configure()
        .codec_path("crate::grpc::codec::ProtoCodec")
        .file_descriptor_set_path(out_dir.join("rul_v1_descriptor.bin"))
        .compile_with_config(prost_config, &[proto], &[proto_root])?;
    Ok(())
}
