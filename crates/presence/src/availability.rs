//! The availability model: Microsoft's presence semantics as plain data,
//! shared by every codec and every source.
//!
//! The Microsoft dialect publishes presence as *states* from several
//! sources (the user's choice, each endpoint's machine state, a phone
//! call, the calendar), and the server aggregates them by meaning into the
//! one state watchers see ([MS-PRES] §3.8.5.1.2). PIDF publications,
//! the sync engine, service contacts and upstream servers are sources too,
//! so the aggregation here is where every protocol meets:
//!
//! - [`number`]: the availability number (0–18000+) and its classes;
//! - [`activity`]: activity tokens, custom texts per LCID and the range an
//!   activity is valid in;
//! - [`device`]: device types and modality capabilities;
//! - [`aggregation`]: [`SourceState`]s → [`AggregateState`], pure, with
//!   explicit time (its module documentation states the precedence);
//! - [`conversion`]: the one table between this model and PIDF/RPID, used
//!   to render for PIDF watchers and to read PIDF publications as sources
//!   (reproduced in `docs/availability.md`).
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use presence::availability::{
//!     aggregate, render_pidf, ActivityToken, Availability, AvailabilityClass, Lcid,
//!     SourceKind, SourceState, StateActivity,
//! };
//!
//! let t = |s| UNIX_EPOCH + Duration::from_secs(s);
//! let desk = SourceState::new(SourceKind::Machine, "desk", t(0))
//!     .with_availability(Availability::ONLINE);
//! let call = SourceState::new(SourceKind::Phone, "call", t(5))
//!     .with_availability(Availability::BUSY)
//!     .with_activity(
//!         StateActivity::token(ActivityToken::OnThePhone)
//!             .within(Availability::BUSY, Some(Availability::new(8999))),
//!     );
//! let state = aggregate(&[desk, call], t(10));
//! assert_eq!(state.class(), AvailabilityClass::Busy);
//!
//! let pidf = render_pidf("sip:alice@example.com", &state, None, Lcid::EN_US);
//! assert_eq!(pidf.summary().activities, [presence::Activity::OnThePhone]);
//! ```

pub mod activity;
pub mod aggregation;
pub mod conversion;
pub mod device;
pub mod number;

pub use activity::{ActivityToken, CustomTexts, Lcid, StateActivity};
pub use aggregation::{
    aggregate, aggregate_with, AggregateState, AggregationPolicy, MachineActivity, SourceKind,
    SourceState,
};
pub use conversion::{
    from_pidf, render_pidf, source_from_document, to_pidf, Direction, PidfView, Row, TABLE,
};
pub use device::{Capabilities, Capability, DeviceType, Modality};
pub use number::{Availability, AvailabilityClass, ParseAvailabilityError};
