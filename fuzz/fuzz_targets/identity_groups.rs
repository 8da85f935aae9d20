//! The get-identity groups parser (`parse_identity_groups`) and `merge_groups`: every group
//! it keeps is one the origin can be sent (not empty, trimmed, at most 256 bytes, no comma,
//! no control character), and a merge keeps the record's groups first, each once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use remote_user_filter::gateway::{merge_groups, parse_identity_groups, MAX_GROUP_NAME_LEN};

fuzz_target!(|doc: &str| {
    let Ok(groups) = parse_identity_groups(doc) else {
        return;
    };
    for g in &groups {
        assert!(!g.is_empty() && g.len() <= MAX_GROUP_NAME_LEN, "{g:?}");
        assert_eq!(g.trim(), g);
        assert!(
            !g.contains(',') && !g.chars().any(char::is_control),
            "{g:?}"
        );
    }
    let kv = vec!["ops".to_owned(), "ops".to_owned(), "dev".to_owned()];
    let merged = merge_groups(&kv, groups.clone());
    assert_eq!(&merged[..2], ["ops", "dev"]);
    let unique: std::collections::HashSet<_> = merged.iter().collect();
    assert_eq!(unique.len(), merged.len());
    assert!(groups.iter().all(|g| merged.contains(g)));
});
