//! Property-based tests of the parsers that face hostile input: object
//! keys, IAM user names, link ids and tokens. Whatever comes in, they never
//! panic, and what they accept keeps every invariant.

use egx_portal::domain::{IamUserName, ObjectKey};
use proptest::prelude::*;

fn assert_key_invariants(key: &str) {
    assert!(key.starts_with("streaming/") || key.starts_with("batch/"), "{key:?}");
    assert!(key.len() <= 1024);
    assert!(!key.chars().any(char::is_control));
    assert!(!key.contains('\\'), "{key:?}");
    assert!(
        !key.chars().any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}')),
        "{key:?}"
    );
    for segment in key.split('/') {
        assert!(!segment.is_empty() && segment != "." && segment != "..", "{key:?}");
        assert_eq!(segment.trim(), segment, "no name begins or ends with a space: {key:?}");
    }
}

/// Path-ish strings: segments of arbitrary Unicode with dots and slashes mixed in.
fn pathish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![any::<String>(), Just("..".to_owned()), Just(".".to_owned()), Just(String::new())],
        0..6,
    )
    .prop_map(|segments| segments.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn an_accepted_object_key_always_keeps_the_invariants(
        prefix in prop_oneof![Just("streaming"), Just("batch"), Just("batch/"), any::<String>().prop_map(|s| Box::leak(s.into_boxed_str()) as &str)],
        folder in pathish(),
        path in pathish(),
    ) {
        if let Ok(key) = ObjectKey::build(prefix, &folder, &path) {
            assert_key_invariants(key.as_str());
            // Normalising is idempotent: the key parses back to itself.
            prop_assert_eq!(ObjectKey::parse(key.as_str()).map(|k| k.as_str().to_owned()), Ok(key.as_str().to_owned()));
        }
    }

    #[test]
    fn huge_and_arbitrary_keys_never_panic(raw in ".{0,3000}") {
        if let Ok(key) = ObjectKey::parse(&raw) {
            assert_key_invariants(key.as_str());
        }
    }

    #[test]
    fn an_accepted_iam_name_uses_only_iam_characters(raw in ".{0,100}") {
        if let Ok(name) = IamUserName::parse(&raw) {
            let n = name.as_str();
            prop_assert!((1..=64).contains(&n.len()));
            prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)));
        }
    }

    #[test]
    fn valid_iam_names_are_all_accepted(raw in "[A-Za-z0-9+=,.@_-]{1,64}") {
        prop_assert_eq!(IamUserName::parse(&raw).map(|n| n.as_str().to_owned()), Ok(raw.clone()));
    }

    #[test]
    fn link_payloads_never_open_with_a_wrong_or_garbled_key(key in ".{0,80}", stored in prop::collection::vec(any::<u8>(), 0..200)) {
        // Garbage in: an error, never a panic, never plaintext.
        prop_assert!(egx_portal::crypto::open_link_payload("id", &stored, &key).is_err());
    }
}
