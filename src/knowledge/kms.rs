//! The Exchange Key Management Service's side of a fix: what to do on the server around a
//! defragmented copy of its key database.

use std::path::Path;

/// The steps around the fix: the tool runs on a copy off the server.
pub fn procedure(db: &Path, new_sha256: &str) -> String {
    let name = db.file_name().unwrap_or_default().to_string_lossy();
    format!(
        "What to do next (the fix ran on a copy; a Windows 2000 server cannot run evtdoctor):\n\
         1. On the server, keep the KMS service stopped (net stop MSExchangeKMS) while the file is out.\n\
         2. Copy this fixed {name} back over the server's copy, in the KMS data folder.\n\
         3. Compare hashes: copy the server's {name} off once more; its SHA-256 must be\n\
         \x20  {new_sha256}\n\
         4. Move the old transaction logs and checkpoint (E00*.log, E00.chk) aside, keeping them:\n\
         \x20  after a defrag they no longer apply to the database.\n\
         5. Start the KMS service (net start MSExchangeKMS).\n\
         6. Collect the new System and Application logs and run `evtdoctor analyze` on them:\n\
         \x20  no new event 5085 means the fix held.\n\
         7. Take a fresh full backup: older backups and transaction logs do not apply to the new file.\n\
         To undo: evtdoctor fix --rollback --db {}",
        db.display()
    )
}
