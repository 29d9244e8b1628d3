//! The database file: created on first use, readable by its owner only.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn database_is_created_on_first_use_with_owner_only_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("nested").join("drover.db");
    let config = dir.path().join("drover.toml");
    std::fs::write(&config, "").expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["group", "create", "web"])
        .env("DROVER_DATABASE_URL", &db)
        .env("DROVER_CONFIG", &config)
        .output()
        .expect("run drover");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&db)
        .expect("database created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "database mode {mode:o}");
}
