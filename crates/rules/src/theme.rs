//! Themes: the avatar a service contact shows, one folder per theme
//! holding `presence_avatar_image.jpg` (the seed's layout, so a theme
//! folder copied from there works unchanged).
//!
//! Reading the folders is the runtime's job; this module checks the bytes
//! it read (a real JPEG, within [`MAX_IMAGE_BYTES`]) and names each image
//! by its SHA-256, which goes into the photo URL and the contact card so
//! clients fetch the picture again exactly when it changes. presenced
//! ships a default image of its own ([`DEFAULT_IMAGE`]), used for the
//! `default` theme unless the themes folder has one.

use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The file a theme folder holds.
pub const IMAGE_FILE: &str = "presence_avatar_image.jpg";

/// The theme of rooms and rules that name none.
pub const DEFAULT_THEME: &str = "default";

/// The largest avatar accepted: clients show a 96×96 picture, and the
/// image is served to every watcher that asks.
pub const MAX_IMAGE_BYTES: usize = 256 * 1024;

/// presenced's own avatar (a 96×96 JPEG of a screen over a table).
pub const DEFAULT_IMAGE: &[u8] = include_bytes!("../assets/presence_avatar_image.jpg");

/// Why an avatar was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Larger than [`MAX_IMAGE_BYTES`].
    #[error("{size} bytes is larger than the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a JPEG file, with what was wrong.
    #[error("not a JPEG image: {0}")]
    NotJpeg(&'static str),
}

/// A checked avatar image and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeImage {
    bytes: Arc<[u8]>,
    hash: String,
}

impl ThemeImage {
    /// Checks an image: size first, then the JPEG structure.
    pub fn new(bytes: &[u8]) -> Result<ThemeImage, ImageError> {
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(ImageError::TooLarge {
                size: bytes.len(),
                limit: MAX_IMAGE_BYTES,
            });
        }
        check_jpeg(bytes).map_err(ImageError::NotJpeg)?;
        let hash = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(ThemeImage {
            bytes: bytes.into(),
            hash,
        })
    }

    /// presenced's built-in default avatar.
    pub fn builtin() -> ThemeImage {
        // A test checks the shipped file; failing here is a broken build.
        ThemeImage::new(DEFAULT_IMAGE).expect("the built-in avatar is a valid JPEG")
    }

    /// The image, shared with the HTTP handler that serves it.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// Lowercase hex SHA-256 of the bytes.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// Whether a theme name is usable as one path segment of a folder and a
/// URL: letters, digits, `.`, `_`, `-`, not starting with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks the marker structure of a JPEG (ITU T.81 Annex B): it starts
/// with SOI, its segments are well formed up to the start of scan, one of
/// them is a start of frame (SOF0–SOF15 but DHT, JPG and DAC), and it ends
/// with EOI. Enough to refuse a PNG, a text file or a truncated copy; the
/// pixels are the client's to decode.
fn check_jpeg(bytes: &[u8]) -> Result<(), &'static str> {
    if !bytes.starts_with(&[0xff, 0xd8]) {
        return Err("it does not start with the SOI marker (FF D8)");
    }
    if !bytes.ends_with(&[0xff, 0xd9]) {
        return Err("it does not end with the EOI marker (FF D9); truncated?");
    }
    let mut at = 2;
    let mut frame = false;
    loop {
        let Some(&[0xff, marker]) = bytes.get(at..at + 2) else {
            return Err("a segment does not start with a marker");
        };
        match marker {
            // Fill bytes before a marker.
            0xff => {
                at += 1;
                continue;
            }
            // Start of scan: entropy-coded data follows.
            0xda => break,
            0xd9 => return Err("it ends before any image data"),
            // Markers without a length.
            0x01 | 0xd0..=0xd7 => {
                at += 2;
                continue;
            }
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => frame = true,
            _ => {}
        }
        let Some(&[high, low]) = bytes.get(at + 2..at + 4) else {
            return Err("a segment is cut short");
        };
        let length = usize::from(u16::from_be_bytes([high, low]));
        if length < 2 {
            return Err("a segment has an impossible length");
        }
        at += 2 + length;
    }
    if !frame {
        return Err("no start-of-frame segment before the image data");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_image_is_a_valid_jpeg() {
        let image = ThemeImage::builtin();
        assert_eq!(image.hash().len(), 64);
        assert_eq!(image.bytes().len(), DEFAULT_IMAGE.len());
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            ThemeImage::new(png),
            Err(ImageError::NotJpeg(
                "it does not start with the SOI marker (FF D8)"
            ))
        );
        let truncated = &DEFAULT_IMAGE[..DEFAULT_IMAGE.len() / 2];
        assert!(matches!(
            ThemeImage::new(truncated),
            Err(ImageError::NotJpeg(m)) if m.contains("EOI")
        ));
        // SOI, a comment, EOI: markers but no frame.
        let no_frame = [
            0xff, 0xd8, 0xff, 0xfe, 0, 4, b'h', b'i', 0xff, 0xda, 0xff, 0xd9,
        ];
        assert_eq!(
            ThemeImage::new(&no_frame),
            Err(ImageError::NotJpeg(
                "no start-of-frame segment before the image data"
            ))
        );
        let big = vec![0u8; MAX_IMAGE_BYTES + 1];
        assert!(matches!(
            ThemeImage::new(&big),
            Err(ImageError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_hash_changes_with_the_bytes() {
        let mut other = DEFAULT_IMAGE.to_vec();
        // A byte inside the first segment (JFIF density): still valid.
        other[14] ^= 1;
        let a = ThemeImage::builtin();
        let b = ThemeImage::new(&other).expect("still a JPEG");
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn theme_names_are_one_safe_segment() {
        assert!(valid_name("blue"));
        assert!(valid_name("vmr-2024_v1.1"));
        for bad in ["", ".hidden", "../etc", "a/b", "a b", "ä"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
