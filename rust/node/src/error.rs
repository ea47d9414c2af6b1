//! The one error a node's files can cause: which file, which field, what is wrong.
//! Printed as one line and exit status 2 (docs/protocol.md §10).

use std::fmt;
use std::path::{Path, PathBuf};

/// A refused file: `FILE: FIELD: MESSAGE` on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    /// Dotted path of the field (`node.key_file`, `validators[2].stake`); empty when the
    /// file as a whole is wrong (missing, not UTF-8, not TOML).
    pub field: String,
    pub message: String,
}

impl FileError {
    pub fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            field: field.into(),
            message: one_line(&message.into()),
        }
    }
}

/// Parser messages may span lines (a TOML snippet); the contract wants one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.message
            )
        }
    }
}

impl std::error::Error for FileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_naming_file_and_field() {
        let e = FileError::new(Path::new("/t/node.toml"), "node.name", "bad\n  thing");
        assert_eq!(e.to_string(), "/t/node.toml: node.name: bad thing");
        let e = FileError::new(Path::new("/t/g.json"), "", "not JSON");
        assert_eq!(e.to_string(), "/t/g.json: not JSON");
    }
}
