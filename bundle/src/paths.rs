//! The shape a content file's path must have: relative, normalized, portable.

use thiserror::Error;

/// Why a path is not a valid bundle path.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path {0:?} is absolute")]
    Absolute(String),
    #[error("path {0:?} contains a '..' component")]
    ParentComponent(String),
    #[error("path {0:?} has an empty or '.' component")]
    NotNormalized(String),
    #[error("path {0:?} contains a backslash, NUL or control character")]
    BadCharacter(String),
    #[error("path {path:?} is longer than {max} bytes")]
    TooLong { path: String, max: usize },
    #[error("path {0:?} is reserved for the manifest or signature")]
    Reserved(String),
}

/// Checks that `path` is a relative, `/`-separated path with no `.`, `..` or empty components.
pub fn validate(path: &str, max_len: usize) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > max_len {
        return Err(PathError::TooLong {
            path: crate::text::shown(path),
            max: max_len,
        });
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(crate::text::shown(path)));
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(PathError::BadCharacter(crate::text::shown(path)));
    }
    for component in path.split('/') {
        match component {
            ".." => return Err(PathError::ParentComponent(crate::text::shown(path))),
            "" | "." => return Err(PathError::NotNormalized(crate::text::shown(path))),
            _ => {}
        }
    }
    if path == crate::MANIFEST_FILE || path == crate::SIGNATURE_FILE {
        return Err(PathError::Reserved(crate::text::shown(path)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        assert_eq!(validate("app/deploy.yaml", 512), Ok(()));
        assert_eq!(validate("a", 512), Ok(()));
    }

    #[test]
    fn refuses_bad_shapes() {
        assert_eq!(validate("", 512), Err(PathError::Empty));
        assert!(matches!(
            validate("/etc/passwd", 512),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(
            validate("a/../../b", 512),
            Err(PathError::ParentComponent(_))
        ));
        assert!(matches!(
            validate("a//b", 512),
            Err(PathError::NotNormalized(_))
        ));
        assert!(matches!(
            validate("./a", 512),
            Err(PathError::NotNormalized(_))
        ));
        assert!(matches!(
            validate("a\\b", 512),
            Err(PathError::BadCharacter(_))
        ));
        assert!(matches!(
            validate("a\0b", 512),
            Err(PathError::BadCharacter(_))
        ));
        assert!(matches!(
            validate("abcdef", 3),
            Err(PathError::TooLong { .. })
        ));
        assert!(matches!(
            validate("bundle.yaml", 512),
            Err(PathError::Reserved(_))
        ));
    }
}
