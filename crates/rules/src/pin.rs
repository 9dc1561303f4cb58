//! The PIN suffix of a conference address: `alias**PIN@domain` dials the
//! room `alias@domain` with its PIN already entered (seed 001, "you can
//! include the PIN as part of the contact address").
//!
//! The PIN is cut off before any lookup and dropped: nothing here returns
//! it, so nothing downstream can log, store or echo it.

/// The presentity key without its PIN suffix, or `None` when it has none.
///
/// A suffix is `**` followed by one or more digits, just before the `@`
/// of the user part; anything else (`a**b@h`, `**@h`) is left alone, as a
/// plain user name that happens to contain stars.
///
/// ```
/// assert_eq!(
///     rules::pin::strip("sip:meet.alice**1234@vc.example.com").as_deref(),
///     Some("sip:meet.alice@vc.example.com")
/// );
/// assert_eq!(rules::pin::strip("sip:meet.alice@vc.example.com"), None);
/// ```
pub fn strip(presentity: &str) -> Option<String> {
    let at = presentity.rfind('@')?;
    let user = &presentity[..at];
    let stars = user.rfind("**")?;
    let pin = &user[stars + 2..];
    let alias = &user[..stars];
    let scheme_end = alias.find(':').map_or(0, |i| i + 1);
    let valid = !pin.is_empty()
        && pin.bytes().all(|b| b.is_ascii_digit())
        && alias.len() > scheme_end
        && !alias.ends_with('*');
    valid.then(|| format!("{alias}{}", &presentity[at..]))
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn vectors() {
        let cases = [
            (
                "sip:meet.alice**1234@vc.example.com",
                Some("sip:meet.alice@vc.example.com"),
            ),
            (
                "sip:meet.alice**1@vc.example.com",
                Some("sip:meet.alice@vc.example.com"),
            ),
            (
                "meet.alice**0042@vc.example.com",
                Some("meet.alice@vc.example.com"),
            ),
            ("sip:meet.alice@vc.example.com", None),
            ("sip:meet.alice**@vc.example.com", None),
            ("sip:meet.alice**12a4@vc.example.com", None),
            ("sip:**1234@vc.example.com", None),
            ("sip:meet***1234@vc.example.com", None),
            ("sip:meet.alice**1234", None),
        ];
        for (input, expected) in cases {
            assert_eq!(strip(input).as_deref(), expected, "{input}");
        }
    }
}
