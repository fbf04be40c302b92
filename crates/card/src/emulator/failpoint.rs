//! Test hook: abort the process at a named point, to prove that a card killed there loses
//! nothing and gains nothing.
//!
//! Only compiled in for the crate's own tests or with the `failpoints` feature; a normal
//! build ignores the environment entirely. With it, `EID_CARD_FAILPOINT=<name>` makes the
//! emulator call [`std::process::abort`] when it reaches `<name>`.

/// The environment variable naming the failpoint to abort at.
pub const ENV: &str = "EID_CARD_FAILPOINT";
/// A PIN or PUK counter was decremented and written, the value not yet compared.
pub const PIN_COUNTER_PERSISTED: &str = "pin-counter-persisted";
/// The new card file is written and synced under its temporary name, not yet renamed.
pub const FILE_BEFORE_RENAME: &str = "file-before-rename";

/// A command with this INS arrived (`command-DB`: PUT DATA), not yet run: the card is
/// taken out just as the command reaches it. Names are `command-` and two upper-case hex
/// digits.
pub const COMMAND_PREFIX: &str = "command-";

/// Aborts the process if the failpoint `command-<ins>` is armed (test builds only).
pub(crate) fn hit_command(ins: u8) {
    #[cfg(any(test, feature = "failpoints"))]
    if std::env::var(ENV).is_ok_and(|armed| armed == format!("{COMMAND_PREFIX}{ins:02X}")) {
        std::process::abort();
    }
    let _ = ins;
}

/// Aborts the process if the failpoint `name` is armed (test builds only).
pub(crate) fn hit(name: &str) {
    #[cfg(any(test, feature = "failpoints"))]
    if std::env::var_os(ENV).is_some_and(|armed| armed == name) {
        std::process::abort();
    }
    let _ = name;
}
