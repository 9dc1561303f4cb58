//! E.164 line numbers (ITU-T E.164): what seed 004 calls "an E164
//! lineuri", the address of a PSTN agent. A valid line is `+`, an
//! assigned country code and at most 15 digits in all; the visual
//! separators of RFC 3966 (`-`, `.`, `(`, `)`) are dropped first.
//!
//! This checks the number's shape and its country code, not each
//! country's numbering plan: a contact center's line URIs come from its
//! own directory, and the question here is only "is this a telephone line
//! or a person's SIP address", which the shape answers.

use std::fmt;

/// Shortest international number in use (a country code and a
/// subscriber number, e.g. +290 and four digits).
const MIN_DIGITS: usize = 7;
/// ITU-T E.164 §6.1: at most 15 digits.
const MAX_DIGITS: usize = 15;

/// Country codes assigned by ITU-T (E.164 Annex to ITU OB 1.1.2016 and
/// later amendments), as inclusive ranges; the spare and reserved codes
/// between them are not lines.
const ASSIGNED: &[(u16, u16)] = &[
    (1, 1),
    (7, 7),
    (20, 20),
    (211, 213),
    (216, 216),
    (218, 218),
    (220, 258),
    (260, 269),
    (27, 27),
    (290, 291),
    (297, 299),
    (30, 34),
    (350, 359),
    (36, 36),
    (370, 383),
    (385, 387),
    (389, 389),
    (39, 41),
    (420, 421),
    (423, 423),
    (43, 49),
    (500, 509),
    (51, 58),
    (590, 599),
    (60, 66),
    (670, 670),
    (672, 683),
    (685, 692),
    (800, 800),
    (808, 808),
    (81, 82),
    (84, 84),
    (850, 850),
    (852, 853),
    (855, 856),
    (86, 86),
    (870, 870),
    (878, 878),
    (880, 883),
    (886, 886),
    (888, 888),
    (90, 95),
    (960, 968),
    (970, 977),
    (979, 979),
    (98, 98),
    (992, 996),
    (998, 998),
];

/// A valid E.164 number: its digits, without the `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineNumber(String);

impl LineNumber {
    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LineNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// Why a number is no E.164 line; shown in `presenced explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotALine {
    /// It does not start with `+` (a local or private number).
    NotGlobal,
    /// Something other than digits and visual separators.
    NotDigits,
    /// Too few or too many digits.
    Length(usize),
    /// The country code is spare or reserved.
    CountryCode,
}

impl fmt::Display for NotALine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotALine::NotGlobal => f.write_str("it is not a global number starting with +"),
            NotALine::NotDigits => f.write_str("it holds more than digits"),
            NotALine::Length(n) => write!(
                f,
                "it has {n} digits (an E.164 line has {MIN_DIGITS} to {MAX_DIGITS})"
            ),
            NotALine::CountryCode => f.write_str("its country code is not assigned"),
        }
    }
}

/// Reads `text` (`+31 (6) 1234-5678` and the like) as an E.164 line.
pub fn parse(text: &str) -> Result<LineNumber, NotALine> {
    let rest = text.strip_prefix('+').ok_or(NotALine::NotGlobal)?;
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '.' | '(' | ')' => {}
            _ => return Err(NotALine::NotDigits),
        }
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(NotALine::Length(digits.len()));
    }
    if !country_code_assigned(&digits) {
        return Err(NotALine::CountryCode);
    }
    Ok(LineNumber(digits))
}

/// Whether the number starts with an assigned country code (codes are
/// prefix-free, so the first one of one, two or three digits that is
/// assigned is the code).
fn country_code_assigned(digits: &str) -> bool {
    (1..=3).any(|len| {
        digits
            .get(..len)
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|code| {
                ASSIGNED
                    .iter()
                    .any(|&(lo, hi)| code_len(lo) == len && (lo..=hi).contains(&code))
            })
    })
}

fn code_len(code: u16) -> usize {
    match code {
        0..=9 => 1,
        10..=99 => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_several_countries_are_valid() {
        for (text, digits) in [
            ("+31612345678", "31612345678"),
            ("+1-212-555-0100", "12125550100"),
            ("+44 (20) 7946.0000", ""),
            ("+2904567", "2904567"),
            ("+85221234567", "85221234567"),
        ] {
            match parse(text) {
                Ok(n) => assert_eq!(n.digits(), digits, "{text}"),
                Err(e) => assert!(digits.is_empty(), "{text}: {e}"),
            }
        }
        assert_eq!(
            parse("+44(20)7946.0000").unwrap().to_string(),
            "+442079460000"
        );
    }

    #[test]
    fn what_is_not_a_line_says_why() {
        assert_eq!(parse("0612345678"), Err(NotALine::NotGlobal));
        assert_eq!(parse("+31 6 12"), Err(NotALine::NotDigits));
        assert_eq!(parse("+316123"), Err(NotALine::Length(6)));
        assert_eq!(parse("+3161234567890123"), Err(NotALine::Length(16)));
        // 28x and 999 are spare.
        assert_eq!(parse("+281234567"), Err(NotALine::CountryCode));
        assert_eq!(parse("+9991234567"), Err(NotALine::CountryCode));
        assert_eq!(parse("+alice"), Err(NotALine::NotDigits));
    }
}
