//! Object keys a teammate may upload to. Only keys under `streaming/` and
//! `batch/` can ever be built, and every key is checked and normalised here,
//! on the server, before anything is signed:
//! no `.`/`..` or empty segments (also not in look-alike dots), no leading
//! `/`, no control characters, no invisible characters that change how a name
//! reads (bidi overrides, zero-width spaces), no backslashes, no names that
//! begin or end with a space, Unicode in NFC, at most 1024 bytes of UTF-8
//! (S3's limit).
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html>

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// The top-level folders teammates may write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Streaming,
    Batch,
}

impl Prefix {
    pub const ALL: [Prefix; 2] = [Prefix::Streaming, Prefix::Batch];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim_end_matches('/') {
            "streaming" => Some(Self::Streaming),
            "batch" => Some(Self::Batch),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Streaming => "streaming",
            Self::Batch => "batch",
        }
    }
}

/// Why a key was refused, in words a teammate understands.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectKeyError {
    #[error("uploads may only go to streaming/ or batch/")]
    Prefix,
    #[error("a file name is required")]
    EmptyName,
    #[error("the path has an empty folder name (two slashes in a row, or a leading or trailing slash)")]
    EmptySegment,
    #[error("'.' and '..' are not allowed as folder or file names")]
    DotSegment,
    #[error("the path contains a control character")]
    ControlCharacter,
    #[error(
        "the path contains an invisible character that changes how the name reads (a direction override, a zero-width or non-breaking space, a line separator): rename the file"
    )]
    InvisibleCharacter,
    #[error("the path contains a backslash (a folder separator on Windows): use / between folders, or rename the file")]
    Backslash,
    #[error(
        "the path contains a character that looks like / or \\ but is not one (a division or fraction slash, a full-width solidus): rename the file"
    )]
    SlashLookAlike,
    #[error("a folder or file name begins or ends with a space, or is only spaces")]
    EdgeSpace,
    #[error("the full key is longer than S3's limit of 1024 bytes")]
    TooLong,
}

/// A key that is safe to sign: `<prefix>/<folder…>/<path…>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    prefix: Prefix,
    key: String,
}

/// S3's key length limit, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

impl ObjectKey {
    /// Builds a key from the chosen prefix, an optional sub-folder typed by
    /// the teammate (surrounding slashes and spaces are trimmed), and the
    /// file's relative path (a file name, or `dir/file` for a dropped folder).
    pub fn build(prefix: &str, folder: &str, relative_path: &str) -> Result<Self, ObjectKeyError> {
        let prefix = Prefix::parse(prefix).ok_or(ObjectKeyError::Prefix)?;
        let folder = folder.trim().trim_matches('/');
        if relative_path.is_empty() {
            return Err(ObjectKeyError::EmptyName);
        }
        let mut key = String::from(prefix.as_str());
        for part in [folder, relative_path] {
            if part.is_empty() {
                continue;
            }
            key.push('/');
            key.push_str(part);
        }
        Self::from_full(prefix, key)
    }

    /// Parses a complete key (for example one sent back by the browser).
    pub fn parse(full: &str) -> Result<Self, ObjectKeyError> {
        let (head, _) = full.split_once('/').ok_or(ObjectKeyError::Prefix)?;
        let prefix = match head {
            "streaming" => Prefix::Streaming,
            "batch" => Prefix::Batch,
            _ => return Err(ObjectKeyError::Prefix),
        };
        Self::from_full(prefix, full.to_owned())
    }

    fn from_full(prefix: Prefix, key: String) -> Result<Self, ObjectKeyError> {
        // Control characters first: they must be refused, not normalised away.
        if key.chars().any(char::is_control) {
            return Err(ObjectKeyError::ControlCharacter);
        }
        if key.chars().any(misleads) {
            return Err(ObjectKeyError::InvisibleCharacter);
        }
        if key.contains('\\') {
            return Err(ObjectKeyError::Backslash);
        }
        if key.chars().any(looks_like_a_slash) {
            return Err(ObjectKeyError::SlashLookAlike);
        }
        let key: String = key.nfc().collect();
        let mut segments = key.split('/');
        // The first segment is the prefix itself.
        segments.next();
        let mut count = 0;
        for segment in segments {
            count += 1;
            if segment.is_empty() {
                return Err(ObjectKeyError::EmptySegment);
            }
            // Full-width and other look-alike dots count as dots.
            let compat: String = segment.nfkc().collect();
            if compat == "." || compat == ".." {
                return Err(ObjectKeyError::DotSegment);
            }
            if segment.starts_with(char::is_whitespace) || segment.ends_with(char::is_whitespace) {
                return Err(ObjectKeyError::EdgeSpace);
            }
        }
        if count == 0 {
            return Err(ObjectKeyError::EmptyName);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(ObjectKeyError::TooLong);
        }
        Ok(Self { prefix, key })
    }

    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The last segment: the file's own name.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

/// Characters that make a name read as something else: bidirectional
/// controls (the "invoice\u{202e}gpj.exe" trick), characters that render as
/// nothing (Unicode's default-ignorable code points: zero-width spaces, the
/// combining grapheme joiner, Hangul fillers, tag characters, invisible
/// operators), line and paragraph separators, spaces that look exactly like
/// an ASCII space, and noncharacters. Kept allowed because ordinary names
/// need them: the zero-width (non-)joiners (Persian, Indic scripts, emoji),
/// variation selectors (emoji presentation, CJK variants), Mongolian free
/// variation selectors, and the ideographic space U+3000 (CJK text; refused
/// at the edges of a name like any space).
fn misleads(c: char) -> bool {
    let cp = u32::from(c);
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' // bidi
        | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
        | '\u{200B}' | '\u{2060}'..='\u{2065}' | '\u{206A}'..='\u{206F}' | '\u{3164}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}' | '\u{E01F0}'..='\u{E0FFF}' // default-ignorable, rendered as nothing
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' // look like a space
        | '\u{FDD0}'..='\u{FDEF}' // noncharacters
    ) || cp & 0xFFFE == 0xFFFE // noncharacters U+xxFFFE and U+xxFFFF
}

/// Characters drawn like a slash or a backslash (a name "..\u{2215}x" reads
/// as "../x"). Full-width forms are here too although NFKC would map them.
fn looks_like_a_slash(c: char) -> bool {
    matches!(
        c,
        '\u{2044}'
            | '\u{2215}'
            | '\u{2216}'
            | '\u{2571}'
            | '\u{2572}'
            | '\u{29F5}'
            | '\u{29F8}'
            | '\u{29F9}'
            | '\u{FE68}'
            | '\u{FF0F}'
            | '\u{FF3C}'
            | '\u{1735}'
    )
}

/// Whether `c` would make text read as something else (the characters keys
/// refuse besides control characters); for showing text from requests.
pub fn changes_how_text_reads(c: char) -> bool {
    misleads(c) || looks_like_a_slash(c)
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_special_characters_are_kept_exactly() {
        let cases = [
            ("streaming", "", "a+b c 100%.csv", "streaming/a+b c 100%.csv"),
            ("batch", "", "Q3#final?.csv", "batch/Q3#final?.csv"),
            ("batch", "", "team#1/notes.txt", "batch/team#1/notes.txt"),
            ("batch/", "/sub/", "it's \"quoted\".txt", "batch/sub/it's \"quoted\".txt"),
            ("streaming", " 2026 ", "Ünïcødé – 東京.csv", "streaming/2026/Ünïcødé – 東京.csv"),
        ];
        for (prefix, folder, path, expected) in cases {
            assert_eq!(ObjectKey::build(prefix, folder, path).unwrap().as_str(), expected);
        }
    }

    #[test]
    fn decomposed_unicode_is_normalised_to_nfc() {
        let nfd = "e\u{301}te\u{301}.csv";
        let key = ObjectKey::build("batch", "", nfd).unwrap();
        assert_eq!(key.as_str(), "batch/\u{e9}t\u{e9}.csv");
    }

    #[test]
    fn only_streaming_and_batch_are_allowed() {
        for prefix in ["other", "streamingX", "", "/streaming", "STREAMING", "streaming/.."] {
            assert_eq!(ObjectKey::build(prefix, "", "a.csv"), Err(ObjectKeyError::Prefix), "{prefix:?}");
        }
        assert_eq!(ObjectKey::parse("streamingX/a"), Err(ObjectKeyError::Prefix));
        assert_eq!(ObjectKey::parse("/streaming/a"), Err(ObjectKeyError::Prefix));
    }

    #[test]
    fn traversal_and_empty_segments_are_refused() {
        assert_eq!(ObjectKey::build("batch", "", "../x"), Err(ObjectKeyError::DotSegment));
        assert_eq!(ObjectKey::build("batch", "a/../..", "x"), Err(ObjectKeyError::DotSegment));
        assert_eq!(ObjectKey::build("batch", "", "./x"), Err(ObjectKeyError::DotSegment));
        assert_eq!(ObjectKey::build("batch", "", "a//b"), Err(ObjectKeyError::EmptySegment));
        assert_eq!(ObjectKey::build("batch", "", "/abs"), Err(ObjectKeyError::EmptySegment));
        assert_eq!(ObjectKey::build("batch", "", "dir/"), Err(ObjectKeyError::EmptySegment));
        assert_eq!(ObjectKey::build("batch", "", ""), Err(ObjectKeyError::EmptyName));
        assert_eq!(ObjectKey::parse("batch/"), Err(ObjectKeyError::EmptySegment));
        assert_eq!(ObjectKey::parse("batch"), Err(ObjectKeyError::Prefix));
    }

    #[test]
    fn control_characters_are_refused() {
        for name in ["a\u{0}b", "a\nb", "a\rb", "tab\t", "del\u{7f}", "c1\u{85}"] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::ControlCharacter), "{name:?}");
        }
    }

    #[test]
    fn names_that_read_as_something_else_are_refused() {
        for name in ["invoice\u{202e}gpj.exe", "a\u{200b}b.csv", "\u{2066}x\u{2069}.csv", "bom\u{feff}.csv"] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::InvisibleCharacter), "{name:?}");
        }
        for name in [
            "a\u{3164}b.txt",
            "a\u{115f}b.txt",
            "a\u{034f}b.txt",
            "a\u{2028}b.txt",
            "a\u{2029}b.txt",
            "a\u{e0041}b.txt",
            "a\u{206a}b.txt",
            "a\u{fff9}b.txt",
            "a\u{1d173}b.txt",
            "a\u{00a0}b.txt",
            "a\u{2007}b.txt",
            "a\u{fdd0}b.txt",
            "a\u{ffff}b.txt",
            "a\u{10fffe}b.txt",
        ] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::InvisibleCharacter), "{name:?}");
        }
        for name in ["..\u{2215}x.txt", "a\u{2044}b", "..\u{ff0f}x", "a\u{ff3c}b", "a\u{29f5}b"] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::SlashLookAlike), "{name:?}");
        }
        for name in ["..\\..\\x.txt", "dir\\file.csv"] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::Backslash), "{name:?}");
        }
        for name in [" ", "trailing .csv ", " leading.csv", "dir /x.csv", "\u{3000}wide.csv"] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::EdgeSpace), "{name:?}");
        }
        for name in ["\u{ff0e}\u{ff0e}/x", "\u{ff0e}/x", "\u{2025}/x"] {
            assert_eq!(ObjectKey::build("batch", "", name), Err(ObjectKeyError::DotSegment), "{name:?}");
        }
    }

    #[test]
    fn joiners_that_scripts_need_stay_allowed() {
        // Persian "mi-khaham" with a zero-width non-joiner; an emoji family with joiners.
        for name in [
            "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}.csv",
            "\u{1f468}\u{200d}\u{1f469}.txt",
            "\u{2764}\u{fe0f} notes.txt",
            "\u{845b}\u{e0100}.txt",
            "\u{6771}\u{3000}\u{4eac}.csv",
            "a b.csv",
        ] {
            assert!(ObjectKey::build("batch", "", name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn keys_longer_than_1024_bytes_are_refused() {
        let exactly = "x".repeat(MAX_KEY_BYTES - "batch/".len());
        assert!(ObjectKey::build("batch", "", &exactly).is_ok());
        let over = format!("{exactly}y");
        assert_eq!(ObjectKey::build("batch", "", &over), Err(ObjectKeyError::TooLong));
        // Multi-byte characters count in bytes, not characters.
        let wide = "é".repeat(510);
        assert_eq!(ObjectKey::build("batch", "", &wide), Err(ObjectKeyError::TooLong));
    }
}
