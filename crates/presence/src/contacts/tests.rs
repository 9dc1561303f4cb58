use super::*;
use crate::contacts::rules::{ContactError, ContactErrorKind as Kind};

const ALICE: &str = "sip:alice@example.com";

type Op = StoreOp<()>;

fn group(id: u32, name: &str) -> Group {
    Group {
        id,
        name: name.into(),
    }
}

fn contact(uri: &str, name: &str, groups: &[u32]) -> Contact {
    Contact {
        uri: uri.into(),
        name: name.into(),
        groups: groups.into(),
        subscribed: true,
        external_uri: None,
    }
}

fn replace(groups: Vec<Group>, contacts: Vec<Contact>) -> ContactOp {
    ContactOp::Replace {
        user: ALICE.into(),
        list: ListContent { groups, contacts },
    }
}

/// Colleagues (1) with Bob and Carol, Friends (2) with Carol.
fn lists() -> ContactLists {
    let mut lists = ContactLists::new(ContactLimits::DEFAULT);
    let op = replace(
        vec![group(2, "Friends"), group(1, "Colleagues")],
        vec![
            contact("sip:carol@example.com", "Carol", &[1, 2]),
            contact("sip:bob@example.com", "Bob", &[1]),
        ],
    );
    apply(&mut lists, op).expect("a valid list");
    lists
}

fn apply(lists: &mut ContactLists, op: ContactOp) -> Result<(ContactChange, Op), ContactError> {
    lists.apply::<()>(op)
}

fn alice(lists: &ContactLists) -> &ContactList {
    lists.get(ALICE).expect("alice has a list")
}

/// Applies `op`, which must be refused for `field` with `kind`, and
/// checks that nothing changed.
fn refused(lists: &mut ContactLists, op: ContactOp, field: &str, kind: Kind) {
    let before = lists.get(ALICE).cloned();
    let error = apply(lists, op).expect_err("refused");
    assert_eq!(error.field, field, "{error}");
    assert_eq!(error.kind, kind, "{error}");
    assert_eq!(
        lists.get(ALICE),
        before.as_ref(),
        "a refused op changes nothing"
    );
}

#[test]
fn a_put_list_is_sorted_normalised_numbered_and_stored() {
    let mut lists = ContactLists::new(ContactLimits::DEFAULT);
    assert!(lists.get(ALICE).is_none());
    let op = replace(
        vec![group(7, "Team"), group(1, "Colleagues")],
        vec![
            contact("sip:Zed@Example.COM;transport=tcp", "Zed", &[7]),
            contact("sip:bob@example.com", "Bob", &[1, 7]),
        ],
    );
    let user = "sip:alice@EXAMPLE.com;transport=tls";
    let op = match op {
        ContactOp::Replace { list, .. } => ContactOp::Replace {
            user: user.into(),
            list,
        },
        other => other,
    };
    let (change, store) = apply(&mut lists, op).expect("valid");
    let list = alice(&lists);
    assert_eq!(list.delta_num(), 1);
    assert_eq!(list.groups(), [group(1, "Colleagues"), group(7, "Team")]);
    let uris: Vec<&str> = list.contacts().iter().map(|c| &*c.uri).collect();
    assert_eq!(uris, ["sip:Zed@example.com", "sip:bob@example.com"]);
    assert_eq!(*list.contact("sip:bob@example.com").unwrap().groups, [1, 7]);
    assert_eq!(list.group(7).unwrap().name.as_ref(), "Team");
    assert_eq!(change.user, ALICE);
    assert_eq!(change.delta_num, 1);
    assert_eq!(change.set_groups, list.groups());
    assert_eq!(change.set_contacts, list.contacts());
    assert!(change.deleted_groups.is_empty() && change.deleted_contacts.is_empty());
    assert_eq!(store, StoreOp::PutContactList(list.record(ALICE)));
    assert_eq!(store.table(), crate::store::CONTACT_LISTS);
    assert_eq!(store.key(), ALICE);
}

#[test]
fn every_accepted_op_raises_delta_num_by_one_even_the_same_list() {
    let mut lists = lists();
    let again = replace(
        alice(&lists).groups().to_vec(),
        alice(&lists).contacts().to_vec(),
    );
    let (change, _) = apply(&mut lists, again).expect("valid");
    assert_eq!(change.delta_num, 2);
    assert_eq!(alice(&lists).delta_num(), 2);
    assert_eq!(change.set_contacts, [], "nothing differs");
    let add = ContactOp::AddGroup {
        user: ALICE.into(),
        name: "Family".into(),
    };
    assert_eq!(apply(&mut lists, add).expect("valid").0.delta_num, 3);
}

#[test]
fn a_replacement_is_told_as_the_delta_from_the_old_list() {
    let mut lists = lists();
    // Bob goes, Carol leaves Friends, Dave comes; Friends is renamed,
    // Colleagues stays, Family is new.
    let op = replace(
        vec![group(1, "Colleagues"), group(2, "Pals"), group(3, "Family")],
        vec![
            contact("sip:carol@example.com", "Carol", &[1]),
            contact("sip:dave@example.com", "Dave", &[3]),
        ],
    );
    let (change, _) = apply(&mut lists, op).expect("valid");
    assert_eq!(change.set_groups, [group(2, "Pals"), group(3, "Family")]);
    assert_eq!(
        change.set_contacts,
        [
            contact("sip:carol@example.com", "Carol", &[1]),
            contact("sip:dave@example.com", "Dave", &[3]),
        ]
    );
    assert_eq!(change.deleted_groups, [] as [u32; 0]);
    assert_eq!(change.deleted_contacts, [Box::from("sip:bob@example.com")]);
}

#[test]
fn a_whole_list_breaking_a_rule_is_refused_naming_the_field() {
    let mut lists = lists();
    let g = || vec![group(1, "Colleagues"), group(2, "Friends")];
    let bob = || contact("sip:bob@example.com", "Bob", &[1]);
    let cases: Vec<(ContactOp, &str, Kind)> = vec![
        (
            replace(vec![group(1, "A"), group(1, "B")], vec![]),
            "groups[1].id",
            Kind::DuplicateGroupId(1),
        ),
        (
            replace(vec![group(1, "A"), group(2, "A")], vec![]),
            "groups[1].name",
            Kind::DuplicateGroupName("A".into()),
        ),
        (
            replace(vec![group(1, "")], vec![]),
            "groups[0].name",
            Kind::Empty,
        ),
        (
            replace(vec![group(1, "a\u{0}b")], vec![]),
            "groups[0].name",
            Kind::ControlCharacter,
        ),
        (
            replace(
                g(),
                vec![
                    bob(),
                    contact("sip:c@example.com", "C", &[1]),
                    contact("sip:d@example.com", "D", &[9]),
                ],
            ),
            "contacts[2].groups[0]",
            Kind::UnknownGroup(9),
        ),
        (
            replace(g(), vec![contact("sip:c@example.com", "C", &[2, 2])]),
            "contacts[0].groups[1]",
            Kind::DuplicateMembership(2),
        ),
        (
            replace(g(), vec![contact("sip:c@example.com", "C", &[])]),
            "contacts[0].groups",
            Kind::NoGroup,
        ),
        (
            replace(g(), vec![bob(), contact("mailto:c@example.com", "C", &[1])]),
            "contacts[1].uri",
            Kind::BadUri("the scheme must be sip, sips or tel".into()),
        ),
        (
            replace(
                g(),
                vec![
                    bob(),
                    contact("sip:bob@EXAMPLE.com;transport=udp", "B", &[2]),
                ],
            ),
            "contacts[1].uri",
            Kind::DuplicateContact("sip:bob@example.com".into()),
        ),
        (
            replace(g(), vec![contact("sip:c@example.com", "x\ny", &[1])]),
            "contacts[0].name",
            Kind::ControlCharacter,
        ),
        (
            replace(
                g(),
                vec![Contact {
                    external_uri: Some("ldap://x/\u{7}".into()),
                    ..bob()
                }],
            ),
            "contacts[0].externalUri",
            Kind::ControlCharacter,
        ),
    ];
    for (op, field, kind) in cases {
        refused(&mut lists, op, field, kind);
    }
    assert_eq!(alice(&lists).delta_num(), 1);
}

#[test]
fn limits_bound_counts_and_lengths() {
    let limits = ContactLimits {
        max_contacts: 2,
        max_groups: 2,
        max_name_chars: 4,
        max_uri_bytes: 24,
    };
    let mut lists = ContactLists::new(limits);
    let g = || vec![group(1, "A")];
    let c = |n: u32| contact(&format!("sip:u{n}@example.com"), "", &[1]);
    apply(&mut lists, replace(g(), vec![c(1), c(2)])).expect("at the limits");
    refused(
        &mut lists,
        replace(g(), vec![c(1), c(2), c(3)]),
        "contacts",
        Kind::TooManyContacts(2),
    );
    refused(
        &mut lists,
        replace(vec![group(1, "A"), group(2, "B"), group(3, "C")], vec![]),
        "groups",
        Kind::TooManyGroups(2),
    );
    // Four characters of two bytes each are within a 4-character limit.
    apply(&mut lists, replace(vec![group(1, "éééé")], vec![])).expect("4 characters");
    let too_long = Kind::TooLong {
        limit: 4,
        unit: "characters",
    };
    refused(
        &mut lists,
        replace(vec![group(1, "ééééé")], vec![]),
        "groups[0].name",
        too_long,
    );
    let uri = contact("sip:a-very-long-user@example.com", "", &[1]);
    let too_long = Kind::TooLong {
        limit: 24,
        unit: "bytes",
    };
    refused(
        &mut lists,
        replace(g(), vec![uri]),
        "contacts[0].uri",
        too_long,
    );
    // One more contact than the limit, one at a time.
    apply(&mut lists, replace(g(), vec![c(1), c(2)])).expect("at the limits");
    let set = |contact| ContactOp::SetContact {
        user: ALICE.into(),
        contact,
    };
    refused(&mut lists, set(c(3)), "contacts", Kind::TooManyContacts(2));
    let renamed = contact("sip:u2@example.com", "Two", &[1]);
    apply(&mut lists, set(renamed)).expect("changing one is no addition");
    let add = |name: &str| ContactOp::AddGroup {
        user: ALICE.into(),
        name: name.into(),
    };
    apply(&mut lists, add("B")).expect("the second group");
    refused(&mut lists, add("C"), "groups", Kind::TooManyGroups(2));
}

#[test]
fn the_user_must_be_a_uri() {
    let mut lists = lists();
    let op = ContactOp::Replace {
        user: "alice".into(),
        list: ListContent::default(),
    };
    let error = apply(&mut lists, op).expect_err("refused");
    assert_eq!(error.field, "user");
    assert!(matches!(error.kind, Kind::BadUri(_)), "{error}");
    assert_eq!(lists.len(), 1);
}

#[test]
fn set_contact_adds_or_changes_one_contact() {
    let mut lists = lists();
    let set = |contact| ContactOp::SetContact {
        user: ALICE.into(),
        contact,
    };
    let dave = contact("sip:Dave@example.com;transport=tcp", "Dave", &[2]);
    let (change, store) = apply(&mut lists, set(dave)).expect("added");
    let dave = contact("sip:Dave@example.com", "Dave", &[2]);
    assert_eq!(change.set_contacts, std::slice::from_ref(&dave));
    assert_eq!(change.delta_num, 2);
    assert!(change.set_groups.is_empty() && change.deleted_contacts.is_empty());
    assert_eq!(alice(&lists).contacts().len(), 3);
    assert_eq!(store, StoreOp::PutContactList(alice(&lists).record(ALICE)));

    let moved = Contact {
        subscribed: false,
        external_uri: Some("ldap://dir/cn=bob".into()),
        ..contact("sip:bob@example.com", "Robert", &[2, 1])
    };
    let (change, _) = apply(&mut lists, set(moved.clone())).expect("changed");
    assert_eq!(change.set_contacts, std::slice::from_ref(&moved));
    assert_eq!(alice(&lists).contact("sip:bob@example.com"), Some(&moved));
    assert_eq!(alice(&lists).contacts().len(), 3);

    refused(
        &mut lists,
        set(contact("sip:erin@example.com", "Erin", &[5])),
        "groups[0]",
        Kind::UnknownGroup(5),
    );
    refused(
        &mut lists,
        set(contact("erin", "Erin", &[1])),
        "uri",
        Kind::BadUri(sip::Uri::parse_str("erin").unwrap_err().to_string()),
    );
}

#[test]
fn a_user_without_a_list_gets_one_with_the_first_change() {
    let mut lists = ContactLists::new(ContactLimits::DEFAULT);
    let add = ContactOp::AddGroup {
        user: ALICE.into(),
        name: "Colleagues".into(),
    };
    let (change, _) = apply(&mut lists, add).expect("added");
    assert_eq!(change.set_groups, [group(1, "Colleagues")]);
    assert_eq!(change.delta_num, 1);
    let op = ContactOp::SetContact {
        user: "sip:bob@example.com".into(),
        contact: contact("sip:alice@example.com", "Alice", &[1]),
    };
    let error = apply(&mut lists, op).expect_err("bob has no groups");
    assert_eq!(
        (error.field.as_str(), error.kind),
        ("groups[0]", Kind::UnknownGroup(1))
    );
    assert!(lists.get("sip:bob@example.com").is_none());
}

#[test]
fn delete_contact_removes_it_by_address_of_record() {
    let mut lists = lists();
    let delete = |uri: &str| ContactOp::DeleteContact {
        user: ALICE.into(),
        uri: uri.into(),
    };
    let (change, _) =
        apply(&mut lists, delete("sip:bob@EXAMPLE.com;transport=tcp")).expect("deleted");
    assert_eq!(change.deleted_contacts, [Box::from("sip:bob@example.com")]);
    assert!(change.set_contacts.is_empty());
    assert!(alice(&lists).contact("sip:bob@example.com").is_none());
    refused(
        &mut lists,
        delete("sip:bob@example.com"),
        "uri",
        Kind::NoSuchContact("sip:bob@example.com".into()),
    );
}

#[test]
fn add_group_takes_the_smallest_free_id_and_a_new_name() {
    let mut lists = lists();
    let add = |name: &str| ContactOp::AddGroup {
        user: ALICE.into(),
        name: name.into(),
    };
    let (change, _) = apply(&mut lists, add("Family")).expect("added");
    assert_eq!(change.set_groups, [group(3, "Family")]);
    let delete = ContactOp::DeleteGroup {
        user: ALICE.into(),
        id: 3,
    };
    apply(&mut lists, delete).expect("empty group deleted");
    let op = replace(
        vec![
            group(0, "Zero"),
            group(1, "One"),
            group(2, "Two"),
            group(4, "Four"),
        ],
        vec![],
    );
    apply(&mut lists, op).expect("valid");
    let (change, _) = apply(&mut lists, add("Three")).expect("added");
    assert_eq!(change.set_groups, [group(3, "Three")]);
    let ids: Vec<u32> = alice(&lists).groups().iter().map(|g| g.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    refused(
        &mut lists,
        add("Two"),
        "name",
        Kind::DuplicateGroupName("Two".into()),
    );
    refused(&mut lists, add(""), "name", Kind::Empty);
}

#[test]
fn modify_group_renames_an_existing_group() {
    let mut lists = lists();
    let modify = |id, name: &str| ContactOp::ModifyGroup {
        user: ALICE.into(),
        group: group(id, name),
    };
    let (change, _) = apply(&mut lists, modify(2, "Pals")).expect("renamed");
    assert_eq!(change.set_groups, [group(2, "Pals")]);
    assert!(change.set_contacts.is_empty());
    apply(&mut lists, modify(2, "Pals")).expect("its own name is no clash");
    refused(
        &mut lists,
        modify(2, "Colleagues"),
        "name",
        Kind::DuplicateGroupName("Colleagues".into()),
    );
    refused(&mut lists, modify(9, "Nine"), "id", Kind::NoSuchGroup(9));
}

#[test]
fn delete_group_moves_contacts_out_but_leaves_none_in_no_group() {
    let mut lists = lists();
    let delete = |id| ContactOp::DeleteGroup {
        user: ALICE.into(),
        id,
    };
    // Bob is only in Colleagues.
    refused(
        &mut lists,
        delete(1),
        "id",
        Kind::LastGroup {
            group: 1,
            contact: "sip:bob@example.com".into(),
        },
    );
    refused(&mut lists, delete(9), "id", Kind::NoSuchGroup(9));
    // Carol is in both: she stays, in Colleagues only.
    let (change, _) = apply(&mut lists, delete(2)).expect("deleted");
    assert_eq!(change.deleted_groups, [2]);
    assert_eq!(
        change.set_contacts,
        [contact("sip:carol@example.com", "Carol", &[1])]
    );
    assert_eq!(alice(&lists).groups(), [group(1, "Colleagues")]);
}

#[test]
fn remove_forgets_the_list_and_a_new_one_starts_at_one() {
    let mut lists = lists();
    let (change, store) =
        apply(&mut lists, ContactOp::Remove { user: ALICE.into() }).expect("removed");
    assert_eq!(store, StoreOp::DeleteContactList { user: ALICE.into() });
    assert_eq!(store.key(), ALICE);
    assert_eq!(change.delta_num, 0);
    assert_eq!(change.deleted_groups, [1, 2]);
    assert_eq!(change.deleted_contacts.len(), 2);
    assert!(lists.get(ALICE).is_none());
    assert!(lists.is_empty());
    let again = replace(vec![group(1, "A")], vec![]);
    assert_eq!(apply(&mut lists, again).expect("valid").0.delta_num, 1);
}

#[test]
fn restore_keeps_valid_records_whole_and_returns_the_broken_ones() {
    let stored = lists();
    let mut good = alice(&stored).record(ALICE);
    good.delta_num = 41;
    // Written under higher limits: kept.
    good.groups
        .push(group(3, "A name longer than today's limit allows"));
    let mut broken = good.clone();
    broken.user = "sip:bob@example.com".into();
    broken.contacts[0].groups = vec![8].into();
    let mut lists = ContactLists::new(ContactLimits {
        max_name_chars: 10,
        ..ContactLimits::DEFAULT
    });
    let skipped = lists.restore(vec![good.clone(), broken]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "sip:bob@example.com");
    assert_eq!(skipped[0].1.field, "contacts[0].groups[0]");
    assert_eq!(alice(&lists).record(ALICE), good);
    let add = ContactOp::AddGroup {
        user: ALICE.into(),
        name: "Family".into(),
    };
    assert_eq!(apply(&mut lists, add).expect("valid").0.delta_num, 42);
}

#[test]
fn a_contact_entry_stays_small() {
    // 32 M entries at scale (../shared/DESIGN.md): every word counts.
    assert!(
        std::mem::size_of::<Contact>() <= 72,
        "{}",
        std::mem::size_of::<Contact>()
    );
}

#[test]
fn the_engine_writes_contacts_changes_before_anything_else_and_restores_them() {
    use crate::engine::{Action, Engine, EngineConfig};
    let mut engine: Engine<u32> = Engine::new(EngineConfig::default(), 1);
    let op = replace(vec![group(1, "Colleagues")], vec![]);
    let (change, actions) = engine
        .change_contacts(op, std::time::UNIX_EPOCH)
        .expect("valid");
    assert_eq!(change.delta_num, 1);
    let record = engine
        .contact_lists()
        .get(ALICE)
        .expect("stored in the engine")
        .record(ALICE);
    assert_eq!(
        actions,
        [Action::Store(vec![StoreOp::PutContactList(record.clone())])]
    );
    let bad = replace(vec![group(1, "")], vec![]);
    assert_eq!(
        engine
            .change_contacts(bad, std::time::UNIX_EPOCH)
            .expect_err("refused")
            .field,
        "groups[0].name"
    );

    let mut restarted: Engine<u32> = Engine::new(EngineConfig::default(), 2);
    assert!(restarted.restore_contacts(vec![record.clone()]).is_empty());
    assert_eq!(
        restarted
            .contact_lists()
            .get(ALICE)
            .map(|l| l.record(ALICE)),
        Some(record)
    );
}

#[test]
fn record_of_reads_any_form_of_the_user_and_an_empty_list_for_nobody() {
    let lists = lists();
    let record = lists
        .record_of("sip:alice@EXAMPLE.com;transport=tcp")
        .expect("a URI");
    assert_eq!(record, alice(&lists).record(ALICE));
    let nobody = lists.record_of("sip:nobody@example.com").expect("a URI");
    assert_eq!(
        (nobody.delta_num, nobody.groups.len(), nobody.contacts.len()),
        (0, 0, 0)
    );
    assert_eq!(nobody.user, "sip:nobody@example.com");
    let error = lists.record_of("nobody").expect_err("not a URI");
    assert_eq!(error.field, "user");
}
