//! Writes the scenario sample bundles (see `samples/README.md`).
//!
//! usage: cargo run -p evtdoctor-testkit --example gen_samples -- OUT_DIR   (the committed copy lives in `samples`)

use evtdoctor_testkit::logwriter::samples::write_samples;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        anyhow::bail!("usage: gen_samples OUT_DIR");
    };
    let out = PathBuf::from(out);
    write_samples(&out)?;
    eprintln!("samples written to {}", out.display());
    Ok(())
}
