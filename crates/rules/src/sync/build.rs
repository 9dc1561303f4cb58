//! [`SyncRules::build`]: every check of `[sync]`, each refusal naming the
//! field and the byte offset of the value, and the warnings
//! `check-config` prints (states nothing maps, which mean "no change"
//! at run time, as seed 003 says).

use std::collections::BTreeMap;

use presence::availability::{Availability, CustomTexts, Lcid};
use toml::Spanned;

use super::config::{RawAugmentation, RawCondition, RawMapping, RawProfile, RawSync};
use super::model::{
    Augmentation, Condition, Mapping, Mode, Profile, Published, Push, SyncError, SyncRules,
    SyncWarning,
};
use super::ranges::{Range, Ranges, MAX_AVAILABILITY};
use super::states::{AgentState, AggregatedStates, DeviceState, SyncDirection, UserType};

/// Longest name or status string accepted.
pub const MAX_NAME_CHARS: usize = 256;

/// The checks' context: the config text (for lines) and the warnings.
struct Check<'a> {
    text: &'a str,
    warnings: Vec<SyncWarning>,
}

fn err<T>(
    offset: usize,
    field: impl Into<String>,
    message: impl Into<String>,
) -> Result<T, SyncError> {
    Err(SyncError {
        offset,
        field: field.into(),
        message: message.into(),
    })
}

impl Check<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn warn(&mut self, offset: usize, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(SyncWarning {
            offset,
            field: field.into(),
            message: message.into(),
        });
    }
}

fn name(field: &str, value: &Spanned<String>) -> Result<String, SyncError> {
    let v = value.get_ref().trim();
    if v.is_empty() {
        return err(value.span().start, field, "must not be empty");
    }
    if v.chars().count() > MAX_NAME_CHARS {
        return err(
            value.span().start,
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        );
    }
    Ok(v.to_owned())
}

fn availability(field: &str, value: &Spanned<u32>) -> Result<Availability, SyncError> {
    if *value.get_ref() > MAX_AVAILABILITY {
        return err(
            value.span().start,
            field,
            format!(
                "{} is above {MAX_AVAILABILITY}, beyond any availability",
                value.get_ref()
            ),
        );
    }
    Ok(Availability::new(*value.get_ref()))
}

impl SyncRules {
    /// Checks and compiles `[sync]`. `text` is the whole config file the
    /// spans point into (for the line numbers in messages). Returns the
    /// rules and the warnings, or the first refusal.
    pub fn build(raw: &RawSync, text: &str) -> Result<(SyncRules, Vec<SyncWarning>), SyncError> {
        let mut check = Check {
            text,
            warnings: Vec::new(),
        };
        let mut rules = SyncRules::default();
        if let Some(lcid) = &raw.default_lcid {
            rules.default_lcid = Lcid(*lcid.get_ref());
        }
        if let Some(list) = &raw.acd_available {
            rules.acd_available = list
                .get_ref()
                .iter()
                .map(|s| name("sync.acd_available", s))
                .collect::<Result<_, _>>()?;
        }
        for (i, profile) in raw.profiles.iter().enumerate() {
            let built = check.profile(i, profile)?;
            if let Some(first) = rules.profile(&built.name) {
                return err(
                    profile.get_ref().name.span().start,
                    format!("sync.profiles[{i}].name"),
                    format!(
                        "{:?} is also the name of sync.profiles[{first}]",
                        built.name
                    ),
                );
            }
            rules.profiles.push(built);
        }
        let lookup = |field: String, value: &Spanned<String>| -> Result<usize, SyncError> {
            rules.profile(value.get_ref()).map_or_else(
                || {
                    err(
                        value.span().start,
                        field,
                        format!("no profile is named {:?}", value.get_ref()),
                    )
                },
                Ok,
            )
        };
        let mut global = BTreeMap::new();
        for (key, profile) in &raw.global {
            let field = format!("sync.global.{key}");
            let user_type: UserType = key
                .parse()
                .or_else(|e: String| err(profile.span().start, &field, e))?;
            global.insert(user_type, lookup(field, profile)?);
        }
        let mut groups = BTreeMap::new();
        for (group, profile) in &raw.groups {
            groups.insert(
                group.clone(),
                lookup(format!("sync.groups.{group}"), profile)?,
            );
        }
        let mut users = BTreeMap::new();
        for (user, profile) in &raw.users {
            users.insert(user.clone(), lookup(format!("sync.users.{user}"), profile)?);
        }
        for (i, profile) in raw.profiles.iter().enumerate() {
            for user in &profile.get_ref().users {
                let field = format!("sync.profiles[{i}] {:?}.users", rules.profiles[i].name);
                let user = name(&field, user).map(|n| (n, user.span().start))?;
                if let Some(&other) = users.get(&user.0) {
                    if other != i {
                        return err(
                            user.1,
                            field,
                            format!(
                                "{:?} is already given profile {:?}; an agent has one user-level profile",
                                user.0, rules.profiles[other].name
                            ),
                        );
                    }
                }
                users.insert(user.0, i);
            }
        }
        for (name, hash) in &raw.tokens {
            let field = format!("sync.tokens.{name}");
            let bytes = hex32(hash.get_ref()).ok_or(()).or_else(|()| {
                err(
                    hash.span().start,
                    &field,
                    "must be the SHA-256 of the token as 64 hex digits (the token itself is never written here)",
                )
            })?;
            rules.tokens.insert(name.clone(), bytes);
        }
        if !rules.profiles.is_empty() && global.is_empty() && groups.is_empty() && users.is_empty()
        {
            check.warn(0, "sync", "no profile is assigned (global, groups, users, or a custom profile's users): only login sessions that name a profile sync");
        }
        rules.global = global;
        rules.groups = groups;
        rules.users = users;
        Ok((rules, check.warnings))
    }
}

/// Lowercase or uppercase hex of 32 bytes.
fn hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl Check<'_> {
    fn profile(&mut self, i: usize, raw: &Spanned<RawProfile>) -> Result<Profile, SyncError> {
        let p = raw.get_ref();
        let profile_name = name(&format!("sync.profiles[{i}].name"), &p.name)?;
        let at = format!("sync.profiles[{i}] {profile_name:?}");
        let mode = match (&p.aggregated_states, &p.dnd_off_ranges) {
            (Some(_), Some(ranges)) => {
                return err(
                    ranges.span().start,
                    format!("{at}.dnd_off_ranges"),
                    "push mode (aggregated_states) and pull mode (dnd_off_ranges) are exclusive per profile: T-Server ignores agent-presence-map when map-presence-to-dnd is set (seed 002); make two profiles",
                )
            }
            (None, Some(ranges)) => Mode::Pull(
                Ranges::parse(ranges.get_ref())
                    .or_else(|e| err(ranges.span().start, format!("{at}.dnd_off_ranges"), e))?,
            ),
            (Some(table), None) => Mode::Push(Box::new(self.push(&at, table, p)?)),
            (None, None) => {
                if let Some(first) = p.agent_states.first() {
                    return err(
                        first.span().start,
                        format!("{at}.agent_states"),
                        "agent_states need aggregated_states (push mode) to be reached",
                    );
                }
                Mode::Mappings
            }
        };
        let mut augmentations = Vec::with_capacity(p.augmentations.len().max(1));
        for (j, aug) in p.augmentations.iter().enumerate() {
            let built = self.augmentation(&format!("{at}.augmentations[{j}]"), aug)?;
            if let Some(same) = augmentations
                .iter()
                .find(|a: &&Augmentation| a.order == built.order)
            {
                return err(
                    aug.get_ref().order.span().start,
                    format!("{at}.augmentations[{j}] {:?}.order", built.name),
                    format!(
                        "order {} is also that of {:?}; the lowest order wins, so two equal orders leave the choice undefined",
                        built.order, same.name
                    ),
                );
            }
            augmentations.push(built);
        }
        augmentations.sort_by_key(|a| a.order);
        if augmentations.is_empty() {
            augmentations.push(Augmentation {
                name: "(always)".into(),
                order: 0,
                line: 0,
                enable_cc_to_uc: true,
                enable_uc_to_cc: true,
                add_in_queue_text: false,
                conditions: Vec::new(),
                mappings: Vec::new(),
            });
        }
        if mode == Mode::Mappings && augmentations.iter().all(|a| a.mappings.is_empty()) {
            self.warn(
                raw.span().start,
                &at,
                "no push or pull mode and no mappings: nothing syncs for its agents",
            );
        }
        if mode == Mode::Mappings {
            self.uncovered(&at, raw, &augmentations);
        }
        Ok(Profile {
            name: profile_name,
            line: self.line(raw.span().start),
            mode,
            augmentations,
        })
    }

    fn push(
        &mut self,
        at: &str,
        table: &Spanned<String>,
        p: &RawProfile,
    ) -> Result<Push, SyncError> {
        let field = format!("{at}.aggregated_states");
        let parsed = AggregatedStates::parse(table.get_ref())
            .or_else(|(offset, e)| err(table.span().start + 1 + offset, &field, e))?;
        let mut states = BTreeMap::new();
        for (k, state) in p.agent_states.iter().enumerate() {
            let s = state.get_ref();
            let sf = format!("{at}.agent_states[{k}]");
            let id = name(&format!("{sf}.id"), &s.id)?;
            let mut texts = CustomTexts::new();
            for (lcid, text) in &s.activity {
                let lcid: u32 = lcid.parse().or_else(|_| {
                    err(
                        text.span().start,
                        format!("{sf}.activity"),
                        format!("{lcid:?} is not an LCID (a number such as 1033)"),
                    )
                })?;
                texts.insert(Lcid(lcid), text.get_ref().trim());
            }
            let published = Published {
                availability: availability(&format!("{sf}.availability"), &s.availability)?,
                texts,
                line: self.line(state.span().start),
            };
            if states.insert(id.clone(), published).is_some() {
                return err(
                    s.id.span().start,
                    format!("{sf}.id"),
                    format!("{id:?} is given twice"),
                );
            }
            if !parsed.0.iter().flatten().any(|used| *used == id) {
                self.warn(
                    s.id.span().start,
                    format!("{sf}.id"),
                    format!("{id:?} is in no row of aggregated_states: never published"),
                );
            }
        }
        for (n, id) in parsed.0.iter().enumerate() {
            let agent = AgentState::ALL[n % 5];
            let device = DeviceState::ALL[n / 5];
            match id {
                None => self.warn(
                    table.span().start,
                    &field,
                    format!("row {} ({} × {}) has no aggregated state: the agent's presence does not change in it", n + 1, agent.as_str(), device.as_str()),
                ),
                Some(id) if !states.contains_key(id) => {
                    return err(
                        table.span().start,
                        field,
                        format!("row {} names {id:?}, which has no agent_states entry (the agentStates XML must have one for each aggregated state)", n + 1),
                    )
                }
                Some(_) => {}
            }
        }
        Ok(Push {
            table: parsed,
            states,
        })
    }

    fn augmentation(
        &mut self,
        at: &str,
        raw: &Spanned<RawAugmentation>,
    ) -> Result<Augmentation, SyncError> {
        let a = raw.get_ref();
        let aug_name = name(&format!("{at}.name"), &a.name)?;
        let at = format!("{at} {aug_name:?}");
        let conditions = a
            .conditions
            .iter()
            .enumerate()
            .map(|(k, c)| condition(&format!("{at}.conditions[{k}]"), c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut mappings: Vec<Mapping> = Vec::with_capacity(a.mappings.len());
        for (k, m) in a.mappings.iter().enumerate() {
            let mf = format!("{at}.mappings[{k}]");
            let built = self.mapping(&mf, m)?;
            for other in &mappings {
                if built.direction.to_cc() && other.direction.to_cc() {
                    if let (Some(x), Some(y)) = (built.accept, other.accept) {
                        if x.overlaps(&y) {
                            return err(
                                m.get_ref().accept.as_ref().map_or(m.span().start, |s| s.span().start),
                                format!("{mf}.accept"),
                                format!(
                                    "mappings {} and {} both sync toward the contact center over overlapping availability ranges ({y} and {x}): which status an availability in both sets is undefined (seed 003's RCC \"Away\" defect); set one of them to OneWayToUc or None, or split the ranges",
                                    other.label(), built.label()
                                ),
                            );
                        }
                    }
                }
                if built.direction.to_uc()
                    && other.direction.to_uc()
                    && built.cc_status == other.cc_status
                {
                    return err(
                        m.get_ref().cc_status.span().start,
                        format!("{mf}.cc_status"),
                        format!("mappings {} and {} both publish status {:?} toward UC with different availabilities; keep one", other.label(), built.label(), built.cc_status),
                    );
                }
            }
            mappings.push(built);
        }
        Ok(Augmentation {
            name: aug_name,
            order: *a.order.get_ref(),
            line: self.line(raw.span().start),
            enable_cc_to_uc: a.enable_cc_to_uc,
            enable_uc_to_cc: a.enable_uc_to_cc,
            add_in_queue_text: a.add_in_queue_text,
            conditions,
            mappings,
        })
    }

    fn mapping(&mut self, at: &str, raw: &Spanned<RawMapping>) -> Result<Mapping, SyncError> {
        let m = raw.get_ref();
        let direction: SyncDirection = m
            .direction
            .get_ref()
            .parse()
            .or_else(|e: String| err(m.direction.span().start, format!("{at}.direction"), e))?;
        let cc_status = name(&format!("{at}.cc_status"), &m.cc_status)?;
        let avail = m
            .availability
            .as_ref()
            .map(|a| availability(&format!("{at}.availability"), a))
            .transpose()?;
        let accept = m
            .accept
            .as_ref()
            .map(|r| {
                Range::parse(r.get_ref())
                    .or_else(|e| err(r.span().start, format!("{at}.accept"), e))
            })
            .transpose()?;
        if direction.to_uc() && avail.is_none() {
            return err(m.direction.span().start, format!("{at}.availability"), format!("direction {direction} publishes toward UC and needs the availability to publish"));
        }
        if direction.to_cc() && accept.is_none() {
            return err(m.direction.span().start, format!("{at}.accept"), format!("direction {direction} syncs toward the contact center and needs the availability range to accept (start-end)"));
        }
        Ok(Mapping {
            cc_status,
            availability: avail,
            accept,
            direction,
            line: self.line(raw.span().start),
        })
    }

    /// Warns about UC availability classes no mapping of an augmentation
    /// accepts: a UC change into one changes nothing in the contact center.
    fn uncovered(&mut self, at: &str, raw: &Spanned<RawProfile>, augmentations: &[Augmentation]) {
        for a in augmentations
            .iter()
            .filter(|a| a.enable_uc_to_cc && !a.mappings.is_empty())
        {
            let baselines = [
                Availability::ONLINE,
                Availability::BUSY,
                Availability::DO_NOT_DISTURB,
                Availability::BE_RIGHT_BACK,
                Availability::AWAY,
            ];
            let missing: Vec<String> = baselines
                .iter()
                .filter(|b| {
                    !a.mappings
                        .iter()
                        .any(|m| m.direction.to_cc() && m.accept.is_some_and(|r| r.contains(**b)))
                })
                .map(|b| format!("{b} ({:?})", b.class()))
                .collect();
            if !missing.is_empty() {
                self.warn(
                    raw.span().start,
                    format!("{at}.augmentations {:?}", a.name),
                    format!("no mapping accepts {}: those UC states change nothing in the contact center", missing.join(", ")),
                );
            }
        }
    }
}

fn condition(at: &str, raw: &Spanned<RawCondition>) -> Result<Condition, SyncError> {
    let c = raw.get_ref();
    let values = c.qualifications.get_ref();
    if values.is_empty() {
        return err(
            c.qualifications.span().start,
            format!("{at}.qualifications"),
            "needs at least one qualification (a condition holds if any matches)",
        );
    }
    let parse = |v: &Spanned<String>| {
        v.get_ref()
            .parse()
            .or_else(|e: String| err(v.span().start, format!("{at}.qualifications"), e))
    };
    match c.name.get_ref().to_ascii_lowercase().as_str() {
        "userstate" => Ok(Condition::UserState(
            values.iter().map(parse).collect::<Result<_, _>>()?,
        )),
        "usertype" => {
            let parse = |v: &Spanned<String>| {
                v.get_ref()
                    .parse()
                    .or_else(|e: String| err(v.span().start, format!("{at}.qualifications"), e))
            };
            Ok(Condition::UserType(
                values.iter().map(parse).collect::<Result<_, _>>()?,
            ))
        }
        other => err(
            c.name.span().start,
            format!("{at}.name"),
            format!("{other:?} is not a condition (UserState, UserType)"),
        ),
    }
}
