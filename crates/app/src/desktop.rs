//! `eid app register`: a freedesktop `.desktop` entry for `x-scheme-handler/eid`.

use std::path::{Path, PathBuf};

/// The desktop file's name.
pub const DESKTOP_FILE: &str = "eid-app.desktop";

/// Quotes one argument of an `Exec` line (Desktop Entry Specification, "The Exec key").
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '+')
        });
    if plain {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    // In a desktop file's string values a backslash must itself be escaped.
    out.replace('\\', "\\\\")
}

/// The `.desktop` entry that runs `<exe> app --launch %u <args…>`.
pub fn desktop_entry(exe: &Path, args: &[String]) -> String {
    let mut exec = vec![
        quote(&exe.to_string_lossy()),
        "app".to_owned(),
        "--launch".to_owned(),
        "%u".to_owned(),
    ];
    exec.extend(args.iter().map(|a| quote(a)));
    format!(
        "[Desktop Entry]\nType=Application\nName=eID\nComment=eID app: log in with your eID card\n\
Exec={}\nTerminal=false\nNoDisplay=true\nMimeType=x-scheme-handler/eid;\n",
        exec.join(" ")
    )
}

/// Writes the entry under `$XDG_DATA_HOME/applications` (or `~/.local/share/applications`)
/// and registers it with `xdg-mime` if that is installed. Answers the file written.
pub fn register(exe: &Path, args: &[String]) -> std::io::Result<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .ok_or_else(|| std::io::Error::other("neither XDG_DATA_HOME nor HOME is set"))?;
    let dir = data.join("applications");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(DESKTOP_FILE);
    std::fs::write(&path, desktop_entry(exe, args))?;
    // Registration is best effort: without xdg-mime there is nothing to tell.
    let _ = std::process::Command::new("xdg-mime")
        .args(["default", DESKTOP_FILE, "x-scheme-handler/eid"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use super::*;

    #[test]
    fn the_entry_runs_the_app_with_the_link() {
        let entry = desktop_entry(
            Path::new("/usr/bin/eid"),
            &["--card".into(), "/home/a b/card.json".into()],
        );
        assert!(entry.contains("MimeType=x-scheme-handler/eid;"));
        assert!(
            entry.contains("Exec=/usr/bin/eid app --launch %u --card \"/home/a b/card.json\"\n"),
            "{entry}"
        );
        assert_eq!(quote("a$b"), "\"a\\\\$b\"");
    }
}
