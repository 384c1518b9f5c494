//! The engine-id rule, one for every route (REST, gRPC, MQTT, the fleet): 1..=128 characters, not only spaces,
//! and none of the code points that are invisible or reorder text — they would let an id spoof another in logs
//! and on the dashboard.

use crate::error::PredictError;

/// Longest accepted engine id, in characters.
pub const MAX_ENGINE_ID_CHARS: usize = 128;

/// Code points an engine id may not contain, as inclusive ranges in ascending order: control characters and
/// every whitespace but the plain space; format characters (soft hyphen, bidi embeddings, overrides, isolates
/// and marks, zero-width space and joiners, word joiner, invisible operators, BOM, interlinear annotation);
/// invisible fillers (combining grapheme joiner, Hangul fillers); private-use areas; noncharacters; and planes
/// 4–16 (unassigned, tags, private use).
pub const ENGINE_ID_EXCLUDED: &[(char, char)] = &[
    ('\u{0}', '\u{1F}'),
    ('\u{7F}', '\u{A0}'),
    ('\u{AD}', '\u{AD}'),
    ('\u{34F}', '\u{34F}'),
    ('\u{600}', '\u{605}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{6DD}', '\u{6DD}'),
    ('\u{70F}', '\u{70F}'),
    ('\u{890}', '\u{891}'),
    ('\u{8E2}', '\u{8E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{2000}', '\u{200F}'),
    ('\u{2028}', '\u{202F}'),
    ('\u{205F}', '\u{206F}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{E000}', '\u{F8FF}'),
    ('\u{FDD0}', '\u{FDEF}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFFB}'),
    ('\u{FFFE}', '\u{FFFF}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{1FFFE}', '\u{1FFFF}'),
    ('\u{2FFFE}', '\u{2FFFF}'),
    ('\u{3FFFE}', '\u{10FFFF}'),
];

/// Whether `c` may appear in an engine id.
pub fn engine_id_char_allowed(c: char) -> bool {
    let at = ENGINE_ID_EXCLUDED.partition_point(|&(_, hi)| hi < c);
    ENGINE_ID_EXCLUDED.get(at).is_none_or(|&(lo, _)| c < lo)
}

/// Validates an engine id against the rule above; the message names the first offending character by code
/// point (never echoes it, since it may be invisible).
pub fn check_engine_id(id: &str) -> Result<(), PredictError> {
    let chars = id.chars().count();
    if id.chars().all(|c| c == ' ') {
        return Err(PredictError::field(
            "engine_id",
            "must not be empty or only spaces",
        ));
    }
    if chars > MAX_ENGINE_ID_CHARS {
        return Err(PredictError::field(
            "engine_id",
            format!("has {chars} characters; at most {MAX_ENGINE_ID_CHARS} are accepted"),
        ));
    }
    if let Some((at, c)) = id
        .chars()
        .enumerate()
        .find(|&(_, c)| !engine_id_char_allowed(c))
    {
        return Err(PredictError::field(
            "engine_id",
            format!(
                "character {} (U+{:04X}) is not allowed: control, whitespace other than space, invisible, \
                 bidirectional-control and private-use characters are refused",
                at + 1,
                c as u32
            ),
        ));
    }
    Ok(())
}

/// The rule as a JSON Schema `pattern` (ECMA-262/Python syntax; the length is `minLength`/`maxLength`): only
/// allowed characters, at least one of them not a space.
pub fn engine_id_pattern() -> String {
    let allowed = allowed_class(true);
    let visible = allowed_class(false);
    format!("^[{allowed}]*[{visible}][{allowed}]*$")
}

/// A regex character class body of the allowed characters (with or without the space).
fn allowed_class(space: bool) -> String {
    let mut class = String::new();
    let mut next = if space { ' ' } else { '!' };
    for &(lo, hi) in ENGINE_ID_EXCLUDED {
        if lo > next {
            push_range(&mut class, next, prev_char(lo));
        }
        next = next.max(next_char(hi));
    }
    class
}

fn push_range(class: &mut String, lo: char, hi: char) {
    for (i, c) in [lo, hi].into_iter().enumerate() {
        if i == 1 {
            if lo == hi {
                break;
            }
            class.push('-');
        }
        if matches!(c, '\\' | ']' | '[' | '^' | '-') {
            class.push('\\');
        }
        class.push(c);
    }
}

fn next_char(c: char) -> char {
    let mut n = c as u32 + 1;
    if (0xD800..0xE000).contains(&n) {
        n = 0xE000;
    }
    char::from_u32(n).unwrap_or(char::MAX)
}

fn prev_char(c: char) -> char {
    let mut n = (c as u32).saturating_sub(1);
    if (0xD800..0xE000).contains(&n) {
        n = 0xD7FF;
    }
    char::from_u32(n).unwrap_or('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_ranges_are_sorted_and_disjoint() {
        for w in ENGINE_ID_EXCLUDED.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 < w[1].0, "{w:?}");
        }
    }

    #[test]
    fn ordinary_ids_pass() {
        for id in [
            "engine-7",
            "FD001/42",
            "Trent 1000 #3",
            "Triebwerk-Müller",
            "発動機-1",
            "🛩x",
        ] {
            assert!(check_engine_id(id).is_ok(), "{id:?}");
        }
        assert!(check_engine_id(&"e".repeat(MAX_ENGINE_ID_CHARS)).is_ok());
    }

    #[test]
    fn spoofing_and_invisible_ids_fail() {
        for id in [
            "",
            "   ",
            "e\u{202E}x",
            "e\u{200B}x",
            "e\u{2066}x",
            "\u{FEFF}e",
            "e\u{A0}x",
            "e\tx",
            "e\u{E000}",
            "e\u{5B327}",
            "e\u{E0041}",
        ] {
            assert!(check_engine_id(id).is_err(), "{id:?}");
        }
        assert!(check_engine_id(&"e".repeat(MAX_ENGINE_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn the_message_names_the_code_point_not_the_character() {
        let err = check_engine_id("ab\u{202E}c").unwrap_err().to_string();
        assert!(err.contains("character 3 (U+202E)"), "{err}");
        assert!(!err.contains('\u{202E}'));
    }

    #[test]
    fn the_pattern_agrees_with_the_check() {
        let pattern = engine_id_pattern();
        assert!(pattern.starts_with("^[ -~\u{A1}-\u{AC}"), "{pattern}");
        let re = regex::Regex::new(&pattern).unwrap();
        let samples = [
            "engine-7",
            " x ",
            "a b",
            "   ",
            "",
            "e\u{202E}x",
            "e\u{200B}",
            "\u{A0}",
            "発動機",
            "e\u{3FFFD}",
            "e\u{3FFFE}",
            "e\u{E0041}",
            "x\u{FE0F}",
            "\\]^-[",
        ];
        for id in samples {
            // The length rule is the schema's minLength/maxLength, not the pattern's.
            assert_eq!(re.is_match(id), check_engine_id(id).is_ok(), "{id:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn pattern_and_check_agree_on_any_string(id in "\\PC{0,12}|.{0,6}") {
            let re = regex::Regex::new(&engine_id_pattern()).unwrap();
            proptest::prop_assert_eq!(re.is_match(&id), check_engine_id(&id).is_ok());
        }
    }
}
