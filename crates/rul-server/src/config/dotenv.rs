//! `.env` files: `KEY=VALUE` lines loaded into the environment at start-up, never overriding what is already set.

use std::path::Path;

use super::ConfigError;

/// Parses `.env` text: `KEY=VALUE` lines, `#` comments, optional `export ` prefix, optional matching quotes.
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE", index + 1));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: invalid variable name {key:?}", index + 1));
        }
        let value = value.trim();
        let value = match (value.chars().next(), value.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(end)) if value.len() >= 2 && end == q => {
                &value[1..value.len() - 1]
            }
            _ => value.split(" #").next().unwrap_or(value).trim_end(),
        };
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// Loads `path` (if it exists) into the process environment without overriding variables already set.
///
/// Returns how many variables were set. Call it at the very start of `main`, before any other thread exists,
/// because changing the environment is only sound while no other thread reads it.
pub fn load_dotenv(path: &Path) -> Result<usize, ConfigError> {
    let pending = dotenv_pending(path, |key| std::env::var_os(key).is_some())?;
    let count = pending.len();
    for (key, value) in pending {
        // SAFETY: documented precondition — called before other threads start, so nothing reads concurrently.
        unsafe { std::env::set_var(&key, value) };
    }
    Ok(count)
}

/// The `.env` pairs at `path` whose variable is not already set (`is_set`); a missing file yields none.
fn dotenv_pending(
    path: &Path,
    is_set: impl Fn(&str) -> bool,
) -> Result<Vec<(String, String)>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ConfigError::EnvFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    let pairs = parse_dotenv(&text).map_err(|reason| ConfigError::EnvFile {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(pairs.into_iter().filter(|(key, _)| !is_set(key)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_parsing() {
        let text = "# comment\nexport A=1\nB = \"two words\"\nC='x#y'\nD=plain # trailing\n\nE=\n";
        let pairs = parse_dotenv(text).expect("parse");
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x#y".into()),
                ("D".into(), "plain".into()),
                ("E".into(), String::new()),
            ]
        );
        assert!(parse_dotenv("no equals sign").is_err());
        assert!(parse_dotenv("BAD-NAME=1").is_err());
    }

    #[test]
    fn dotenv_missing_file_is_fine_and_existing_vars_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            dotenv_pending(&dir.path().join("absent.env"), |_| false)
                .expect("ok")
                .is_empty()
        );
        let path = dir.path().join(".env");
        std::fs::write(&path, "NEW_ONE=from-file\nALREADY=overridden\n").expect("write");
        let pending = dotenv_pending(&path, |key| key == "ALREADY").expect("load");
        assert_eq!(
            pending,
            vec![("NEW_ONE".to_string(), "from-file".to_string())]
        );
        std::fs::write(&path, "broken line\n").expect("write");
        let err = dotenv_pending(&path, |_| false).expect_err("broken");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
