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
        } else if head.starts_with(&ZSTD_MAGIC) {
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

pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(crate) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
