//! Inputs besides plain files: standard input (`-`), .zip and .gz bundles read in place, and
//! files cut by another process while they are read.

use crate::common::evtdoctor;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kms-sp4")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A zip holding `members` (name, bytes), deflated.
fn write_zip(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut zip = ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        zip.start_file(name.as_str(), SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Runs evtdoctor with `input` on its standard input.
fn evtdoctor_fed(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    out
}

/// The KMS sample's logs under `bundle/`, with a member that is no log, a hidden one and an
/// empty folder entry.
fn kms_zip(dir: &Path) -> PathBuf {
    let mut members: Vec<(String, Vec<u8>)> = std::fs::read_dir(samples())
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (format!("bundle/{name}"), std::fs::read(&path).unwrap())
        })
        .collect();
    members.push((
        "bundle/notes.pdf".into(),
        b"%PDF-1.4\n\x00\x01\x02".to_vec(),
    ));
    members.push((
        "__MACOSX/bundle/._System.evtx".into(),
        b"\x00\x05\x16\x07".to_vec(),
    ));
    let zip = dir.join("kms.zip");
    write_zip(&zip, &members);
    zip
}

#[test]
fn a_zip_of_the_kms_sample_gives_the_folders_report() {
    let dir = tempfile::tempdir().unwrap();
    let zip = kms_zip(dir.path());
    let folder = samples();
    let from_folder = evtdoctor(&["analyze", "--json", folder.to_str().unwrap()]);
    let from_zip = evtdoctor(&["analyze", "--json", zip.to_str().unwrap()]);
    assert_eq!(
        from_folder.status.code(),
        Some(1),
        "{}",
        stderr(&from_folder)
    );
    assert_eq!(from_zip.status.code(), Some(1), "{}", stderr(&from_zip));
    let report = stdout(&from_zip);
    assert!(report.contains("\"path\": \"") && report.contains("kms.zip!bundle/System.evtx\""));
    let folder_prefix = format!("{}/", folder.display());
    let zip_prefix = format!("{}!bundle/", zip.display());
    assert_eq!(
        report.replace(&zip_prefix, ""),
        stdout(&from_folder).replace(&folder_prefix, "")
    );
    let conclusion = serde_json::from_str::<serde_json::Value>(&report).unwrap()["conclusion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        conclusion.starts_with(
            "1 finding(s): Exchange KMS cannot mount its key database after Windows 2000 SP4 on \
             EXCH01 (active, high confidence). Examined 98 event(s) from 1 computer(s) in 7 \
             readable input(s)."
        ),
        "{conclusion}"
    );

    // A report never replaces the bundle its inputs come from.
    let zip_bytes = std::fs::read(&zip).unwrap();
    for command in ["events", "analyze"] {
        let out = evtdoctor(&[command, zip.to_str().unwrap(), "-o", zip.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("kms.zip"), "{}", stderr(&out));
        assert_eq!(std::fs::read(&zip).unwrap(), zip_bytes);
    }

    // The member that is no log is skipped, said only with --verbose.
    let quiet = evtdoctor(&["events", "--jsonl", zip.to_str().unwrap()]);
    assert!(!stderr(&quiet).contains("notes.pdf"), "{}", stderr(&quiet));
    let verbose = evtdoctor(&["events", "--verbose", "--jsonl", zip.to_str().unwrap()]);
    assert!(
        stderr(&verbose).contains(&format!(
            "{}!bundle/notes.pdf: skipped: not an event log",
            zip.display()
        )),
        "{}",
        stderr(&verbose)
    );
    assert!(!stderr(&verbose).contains("__MACOSX"));
    assert_eq!(stdout(&quiet), stdout(&verbose));
    assert_eq!(stdout(&quiet).lines().count(), 98);
}

#[test]
fn a_gz_of_a_log_and_standard_input_give_the_records_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = samples().join("System.evtx");
    let bytes = std::fs::read(&log).unwrap();
    let gz = dir.path().join("System.evtx.gz");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    let log_name = log.to_str().unwrap();
    let from_file = stdout(&evtdoctor(&["events", "--jsonl", log_name]));
    assert_eq!(from_file.lines().count(), 27);
    let file_field = format!("\"file\":\"{log_name}\"");

    let from_gz = evtdoctor(&["events", "--jsonl", gz.to_str().unwrap()]);
    assert_eq!(from_gz.status.code(), Some(0), "{}", stderr(&from_gz));
    let gz_field = format!("\"file\":\"{}!System.evtx\"", gz.display());
    assert_eq!(stdout(&from_gz).replace(&gz_field, &file_field), from_file);

    // Standard input, plain or compressed, is named `-`.
    for fed in [bytes.clone(), gzip(&bytes)] {
        let out = evtdoctor_fed(&["events", "--jsonl", "-"], &fed);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).replace("\"file\":\"-\"", &file_field),
            from_file
        );
    }
    let zipped = dir.path().join("logs.zip");
    write_zip(&zipped, &[("System.evtx".into(), bytes.clone())]);
    let out = evtdoctor_fed(&["events", "-"], &std::fs::read(&zipped).unwrap());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(
        "evtdoctor: -: cannot read: a zip archive on standard input: save it to a file and name \
         the file"
    ));

    let out = evtdoctor_fed(&["analyze", "--json", "-"], &bytes);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"path\": \"-\""));
}

#[test]
fn standard_input_named_twice_is_a_usage_error() {
    let out = evtdoctor_fed(&["events", "-", "-"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "evtdoctor: error: standard input (`-`) is named more than once\n"
    );
}

/// Sets the uncompressed size a zip declares for its only member (local and central headers).
fn declare_zip_member_size(zip: &mut [u8], size: u32) {
    for (signature, at) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
        let header = zip.windows(4).position(|w| w == signature).unwrap();
        zip[header + at..header + at + 4].copy_from_slice(&size.to_le_bytes());
    }
}

#[test]
fn members_that_expand_beyond_their_declared_size_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A log followed by a megabyte of zeros that compresses to almost nothing.
    let mut bomb = std::fs::read(samples().join("System.evtx")).unwrap();
    bomb.resize(bomb.len() + (1 << 20), 0);
    let zip = dir.path().join("bomb.zip");
    write_zip(&zip, &[("System.evtx".into(), bomb.clone())]);
    let mut bytes = std::fs::read(&zip).unwrap();
    declare_zip_member_size(&mut bytes, 100_000);
    std::fs::write(&zip, bytes).unwrap();
    let gz = dir.path().join("System.evtx.gz");
    let mut bytes = gzip(&bomb);
    let trailer = bytes.len() - 4;
    bytes[trailer..].copy_from_slice(&100_000u32.to_le_bytes());
    std::fs::write(&gz, bytes).unwrap();

    // The zip reader stops at the declared size itself; the .gz one is held to its trailer's.
    let zip_refusal = "File is larger than its declared uncompressed size";
    let gz_refusal = "expands beyond the 100000 bytes the archive declares for it: a damaged \
                      archive or a decompression bomb; refused";
    for (bundle, refusal) in [(&zip, zip_refusal), (&gz, gz_refusal)] {
        let out = evtdoctor(&["events", "--jsonl", bundle.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        assert!(
            stderr(&out).contains(&format!(
                "{}!System.evtx: cannot read: {refusal}",
                bundle.display()
            )),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_corrupt_zip_is_listed_beside_the_readable_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.zip");
    std::fs::write(&broken, b"PK\x03\x04 not really a zip archive").unwrap();
    let log = samples().join("System.evtx");
    let out = evtdoctor(&[
        "events",
        "--jsonl",
        broken.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 27);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "evtdoctor: {}: not a readable zip archive: ",
            broken.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("27 records (0 recovered) from 1 input(s); 1 unreadable"),
        "{err}"
    );

    let alone = evtdoctor(&["events", broken.to_str().unwrap()]);
    assert_eq!(alone.status.code(), Some(2));
    assert_eq!(stdout(&alone), "");

    // A zip under another name is read as a file, and said to be a zip.
    let unnamed = dir.path().join("attachment");
    write_zip(
        &unnamed,
        &[("System.evtx".into(), std::fs::read(&log).unwrap())],
    );
    let out = evtdoctor(&["events", unnamed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "{}: offset 0 (0x0): a zip archive: name it .zip to read the logs in it",
            unnamed.display()
        )),
        "{}",
        stderr(&out)
    );

    // In analyze's report it is an input that could not be read.
    let out = evtdoctor(&[
        "analyze",
        "--json",
        broken.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unreadable: Vec<&str> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|input| !input["unreadable"].is_null())
        .map(|input| input["path"].as_str().unwrap())
        .collect();
    assert_eq!(unreadable, [broken.to_str().unwrap()]);
}

/// A large log cut short by another process while it is read gives an error or the records
/// read before the cut, never a crash (a memory-mapped read would die of SIGBUS).
#[test]
fn a_log_cut_while_it_is_read_never_crashes_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("Big.evtx");
    let sample = std::fs::read(samples().join("System.evtx")).unwrap();
    let mut bytes = sample[..4096].to_vec();
    while bytes.len() < 16 << 20 {
        bytes.extend_from_slice(&sample[4096..]);
    }
    for cut_after_ms in [0, 1, 5, 20] {
        std::fs::write(&log, &bytes).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_evtdoctor"))
            .args(["events", "--jsonl", log.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(cut_after_ms));
        std::fs::File::options()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(8192)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 2)),
            "cut after {cut_after_ms} ms: {:?} {}",
            out.status,
            stderr(&out)
        );
        if code == Some(2) {
            assert!(
                stderr(&out).contains("the file shrank while it was read"),
                "{}",
                stderr(&out)
            );
        }
    }
}
