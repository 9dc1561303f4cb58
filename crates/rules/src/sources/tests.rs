//! Seed 004's three worked examples, with its example configuration (all
//! three sources enabled, two attendant patterns; the seed's own
//! addresses and patterns are blank, so these stand in for them), and
//! the cases around them.

use super::*;

fn seed_example() -> Sources {
    let patterns = [
        r"^sip:attendant\.".to_owned(),
        r"@reception\.example\.com$".to_owned(),
    ];
    Sources::new(Some(&patterns), true, true).unwrap()
}

#[test]
fn seed_example_one_an_attendant() {
    let choice = seed_example().choose("sip:frontdesk@reception.example.com");
    assert_eq!(choice.source, Some(SourceKind::Attendant));
    assert_eq!(
        choice.to_string(),
        "\
- Which presence source is used by sip:frontdesk@reception.example.com?
  - The AttendantServiceSource is enabled
    - 'sip:frontdesk@reception.example.com' does not match the pattern '^sip:attendant\\.'
    - 'sip:frontdesk@reception.example.com' matches the pattern '@reception\\.example\\.com$'
      - The AttendantServiceSource is used
"
    );
}

#[test]
fn seed_example_two_a_pstn_line() {
    let choice = seed_example().choose("tel:+31612345678");
    assert_eq!(choice.source, Some(SourceKind::Pstn));
    assert_eq!(
        choice.to_string(),
        "\
- Which presence source is used by tel:+31612345678?
  - The AttendantServiceSource is enabled
    - 'tel:+31612345678' does not match the pattern '^sip:attendant\\.'
    - 'tel:+31612345678' does not match the pattern '@reception\\.example\\.com$'
  - The PstnPresenceSource is enabled
    - 'tel:+31612345678' matches an E164 lineuri (+31612345678; a tel: URI)
      - The PstnPresenceSource is used
"
    );
}

#[test]
fn seed_example_three_the_upstream_fallback() {
    let choice = seed_example().choose("sip:bob@example.com");
    assert_eq!(choice.source, Some(SourceKind::Upstream));
    assert_eq!(
        choice.to_string(),
        "\
- Which presence source is used by sip:bob@example.com?
  - The AttendantServiceSource is enabled
    - 'sip:bob@example.com' does not match the pattern '^sip:attendant\\.'
    - 'sip:bob@example.com' does not match the pattern '@reception\\.example\\.com$'
  - The PstnPresenceSource is enabled
    - 'sip:bob@example.com' does not match an E164 lineuri: it is a SIP URI without user=phone
  - The UcmaPresenceSource is enabled
    - The UcmaPresenceSource is used
"
    );
}

#[test]
fn sip_lines_need_user_phone_or_a_global_number() {
    let sources = seed_example();
    for uri in [
        "sip:+31612345678@gw.example.com;user=phone",
        "sip:+31612345678@gw.example.com",
        "tel:+31-6-1234-5678",
    ] {
        assert_eq!(sources.choose(uri).source, Some(SourceKind::Pstn), "{uri}");
    }
    // A local number is no E.164 line, with or without user=phone.
    let choice = sources.choose("sip:0612345678@gw.example.com;user=phone");
    assert_eq!(choice.source, Some(SourceKind::Upstream));
    assert!(
        choice
            .to_string()
            .contains("does not match an E164 lineuri: it is not a global number starting with +"),
        "{choice}"
    );
    // The first source that answers wins: an attendant pattern over a line.
    let choice = Sources::new(Some(&["^tel:\\+3161".to_owned()]), true, true)
        .unwrap()
        .choose("tel:+31612345678");
    assert_eq!(choice.source, Some(SourceKind::Attendant));
}

#[test]
fn disabled_sources_are_passed_over_and_said_so() {
    let sources = Sources::new(None, false, true).unwrap();
    let choice = sources.choose("tel:+31612345678");
    assert_eq!(choice.source, Some(SourceKind::Upstream));
    let text = choice.to_string();
    assert!(
        text.contains("The AttendantServiceSource is disabled (provider.attendant_service_source.enabled = false)"),
        "{text}"
    );
    assert!(
        text.contains("The PstnPresenceSource is disabled"),
        "{text}"
    );
}

#[test]
fn a_uri_left_without_a_source_is_refused() {
    assert_eq!(
        Sources::new(Some(&["^sip:att".to_owned()]), true, false),
        Err(SourcesError::Uncovered)
    );
    assert_eq!(
        Sources::new(None, true, false),
        Err(SourcesError::Uncovered)
    );
    // A catch-all attendant pattern covers what the upstream would.
    let sources = Sources::new(Some(&[".*".to_owned()]), true, false).unwrap();
    assert_eq!(
        sources.choose("sip:bob@example.com").source,
        Some(SourceKind::Attendant)
    );
    let e = Sources::new(Some(&["(".to_owned()]), true, true).unwrap_err();
    assert!(matches!(e, SourcesError::Pattern { index: 0, .. }), "{e:?}");
}

#[test]
fn unreadable_uris_have_no_source() {
    let choice = seed_example().choose("sip:");
    assert_eq!(choice.source, None);
}

#[test]
fn bare_addresses_are_read_as_sip() {
    assert_eq!(
        seed_example().choose("bob@Example.COM").steps[2].1,
        "'sip:bob@example.com' does not match the pattern '^sip:attendant\\.'"
    );
}

#[test]
fn the_quiet_answer_is_the_explained_one() {
    let sources = seed_example();
    for uri in [
        "sip:frontdesk@reception.example.com",
        "tel:+31612345678",
        "sip:+31612345678@gw.example.com",
        "sip:bob@example.com",
    ] {
        let parsed = sip::Uri::parse_str(uri).unwrap();
        assert_eq!(
            sources.source_of(&parsed),
            sources.choose(uri).source,
            "{uri}"
        );
    }
}

#[test]
fn a_line_in_a_call_is_never_available() {
    for (text, busy) in [
        ("idle", false),
        ("ringing", true),
        ("connected", true),
        ("held", true),
    ] {
        let state: CallState = text.parse().unwrap();
        let shown = state.presence();
        assert_eq!(
            shown.availability.class() == presence::availability::AvailabilityClass::Online,
            !busy,
            "{text}"
        );
    }
    assert!("on-hook"
        .parse::<CallState>()
        .unwrap_err()
        .contains("idle, ringing"));
}

#[test]
fn a_pin_is_never_shown() {
    let text = seed_example()
        .choose("sip:meet.alice**4321@vc.example.com")
        .to_string();
    assert!(!text.contains("4321"), "{text}");
    assert!(text.contains("sip:meet.alice@vc.example.com"), "{text}");
}
