//! Seed 004's example configuration as the seed prints it (its addresses
//! and patterns blank), and a filled-in one with what has no place.

use super::*;

const SEED: &str = include_str!("../../../tests/vectors/seed004_presence_provider.xml");
const FILLED: &str = include_str!("../../../tests/vectors/seed004_presence_provider_filled.xml");

fn lines(import: &Import) -> Vec<String> {
    import.unmapped.iter().map(ToString::to_string).collect()
}

#[test]
fn the_seeds_example() {
    assert!(detect(SEED));
    let import = import(SEED).unwrap();
    assert_eq!(
        import.toml,
        "\
# Imported from seed 004's <PresenceProvider>; set `upstream` to the
# presence server (udp:address:port) to turn the provider on.
[provider]
max_presence_subscriptions_per_second = 15
failed_presence_subscriptions_resubscribe_delay = 900
max_failed_presence_subscriptions_per_uri = 0

[provider.attendant_service_source]
enabled = true
patterns = []

[provider.pstn_presence_source]
enabled = true

[provider.upstream_presence_source]
enabled = true
"
    );
    assert_eq!(
        lines(&import),
        [
            "PresenceProvider XML line 4: ApplicationId=\"urn:application:ucc_app01_presenceprovider\": a UCMA application id; presenced is known to the upstream by `from` (and `username`)",
            "PresenceProvider XML line 5: <UserEndpoint UserUri=\"\" PoolFqdn=\"\">: presenced subscribes from one identity (`from`); a pool goes into `upstream` by hand",
            "PresenceProvider XML line 6: <ApplicationEndpoint> without an OwnerUri: presenced's default `from` kept",
            "PresenceProvider XML line 10: <Match pattern=\"\">: an empty pattern would match every URI; left out",
            "PresenceProvider XML line 11: <Match pattern=\"\">: an empty pattern would match every URI; left out",
        ]
    );
}

#[test]
fn a_filled_in_file_maps_patterns_and_owner_and_lists_the_rest() {
    let import = import(FILLED).unwrap();
    assert!(
        import.toml.contains(
            "max_presence_subscriptions_per_second = 10\n\
             failed_presence_subscriptions_resubscribe_delay = 60\n\
             max_failed_presence_subscriptions_per_uri = 3\n\
             from = \"sip:ucc_app14_presence@contoso.com\"\n"
        ),
        "{}",
        import.toml
    );
    assert!(
        import.toml.contains(
            r"patterns = ['^sip:attendant\.[a-z0-9]+@contoso\.com$', '@frontdesk\.contoso\.com$']"
        ),
        "{}",
        import.toml
    );
    assert!(import
        .toml
        .contains("[provider.pstn_presence_source]\nenabled = false\n"));
    let unmapped = lines(&import);
    assert_eq!(unmapped.len(), 4, "{unmapped:#?}");
    assert!(unmapped[0]
        .starts_with("PresenceProvider XML line 3: <PresenceProvider logLevel=\"debug\">"));
    assert!(unmapped[1].starts_with("PresenceProvider XML line 4: ApplicationId="));
    // .NET's look-behind is not in Rust's regex syntax.
    assert_eq!(
        unmapped[2],
        "PresenceProvider XML line 10: <Match pattern=\"(?<=sip:)reception\">: not a valid Rust regex \
         (error: look-around, including look-ahead and look-behind, is not supported); left out"
    );
    assert_eq!(
        unmapped[3],
        "PresenceProvider XML line 13: <OnlinePresenceSource>: not a source presenced knows; left out"
    );
}

#[test]
fn absent_sources_are_off_and_other_files_are_not_this_format() {
    let import = import("<PresenceProvider><UcmaPresenceSource/></PresenceProvider>").unwrap();
    assert!(import
        .toml
        .contains("[provider.attendant_service_source]\nenabled = false\n"));
    assert!(import
        .toml
        .contains("[provider.pstn_presence_source]\nenabled = false\n"));
    assert!(import
        .toml
        .contains("[provider.upstream_presence_source]\nenabled = true\n"));
    assert!(!detect("<configuration><profiles/></configuration>"));
    assert_eq!(
        super::import("<config/>").unwrap_err().message,
        "no <PresenceProvider> element"
    );
    assert!(super::import("<config><PresenceProvider>").is_err());
}
