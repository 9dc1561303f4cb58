//! What changed between two versions of a list, as [MS-SIP]'s delta list
//! says it. Both lists are sorted (groups by id, contacts by URI), so one
//! merge walk over each finds every difference in linear time, whatever
//! the operation was: a PUT of a whole list gets the same precise delta
//! as a client's single `setContact`.

use std::cmp::Ordering;

use super::{ContactChange, ContactList};

/// The change from `old` to `new`, numbered `delta_num`.
pub(super) fn between(
    user: String,
    delta_num: u64,
    old: &ContactList,
    new: &ContactList,
) -> ContactChange {
    let mut change = ContactChange {
        user,
        delta_num,
        ..ContactChange::default()
    };
    merge(
        &old.groups,
        &new.groups,
        |a, b| a.id.cmp(&b.id),
        |g| change.set_groups.push(g.clone()),
        |g| change.deleted_groups.push(g.id),
    );
    merge(
        &old.contacts,
        &new.contacts,
        |a, b| a.uri.cmp(&b.uri),
        |c| change.set_contacts.push(c.clone()),
        |c| change.deleted_contacts.push(c.uri.clone()),
    );
    change
}

/// Walks two sorted slices: `set` gets what is new or different in `new`,
/// `deleted` what `old` had and `new` has not.
fn merge<T: PartialEq>(
    old: &[T],
    new: &[T],
    order: impl Fn(&T, &T) -> Ordering,
    mut set: impl FnMut(&T),
    mut deleted: impl FnMut(&T),
) {
    let (mut o, mut n) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (o.peek(), n.peek()) {
            (None, None) => break,
            (Some(a), None) => {
                deleted(a);
                o.next();
            }
            (None, Some(b)) => {
                set(b);
                n.next();
            }
            (Some(a), Some(b)) => match order(a, b) {
                Ordering::Less => {
                    deleted(a);
                    o.next();
                }
                Ordering::Greater => {
                    set(b);
                    n.next();
                }
                Ordering::Equal => {
                    if a != b {
                        set(b);
                    }
                    o.next();
                    n.next();
                }
            },
        }
    }
}
