//! The compression formats the core reads, told by the input's first bytes (magic numbers),
//! never by the key's extension. Decoding them is [`crate::decompress`]'s work; this module
//! only names them, so the error table can name them too without depending on the decoders.

/// A compression format, as detected from the first bytes of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (RFC 1952), one or more members.
    Gzip,
    /// Zstandard (RFC 8878), one or more frames.
    Zstd,
}

impl Compression {
    /// The lowercase name used in reports and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// How many leading bytes [`Compression::detect`] needs to decide.
    pub const MAGIC_LEN: usize = 4;

    /// The compression whose magic number starts `head` (at least [`Self::MAGIC_LEN`] bytes,
    /// or the whole input when it is shorter).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) || starts_with_skippable_frame(head) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `head` starts with a zstd skippable frame's magic number (`0x184D2A5?`, RFC 8878,
/// section 3.1.2): a zstd stream may begin with one, and `pzstd` writes one before each frame
/// (the `zstd` CLI decompresses such a stream). No text starts with these bytes: the fourth,
/// 0x18, is a control character.
fn starts_with_skippable_frame(head: &[u8]) -> bool {
    head.first_chunk()
        .is_some_and(|magic: &[u8; 4]| u32::from_le_bytes(*magic) & 0xFFFF_FFF0 == 0x184D_2A50)
}

pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(crate) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers_tell_the_compression() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::detect(&ZSTD_MAGIC), Compression::Zstd);
        // A skippable frame first, as `pzstd` writes (its 16 magic numbers).
        for last_nibble in 0..16u8 {
            let head = [0x50 | last_nibble, 0x2a, 0x4d, 0x18];
            assert_eq!(Compression::detect(&head), Compression::Zstd, "{head:x?}");
        }
        assert_eq!(
            Compression::detect(&[0x40, 0x2a, 0x4d, 0x18]),
            Compression::None
        );
        assert_eq!(Compression::detect(b"P*M"), Compression::None);
        assert_eq!(Compression::detect(b"id,name\n"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }
}
