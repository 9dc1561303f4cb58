//! Availability ranges as administrators write them: T-Server's
//! `presence-availability-range` (`3000-5999,12000-14999`, seed 002) and
//! CIC's `lyncPresenceToIcStart`/`End` pair (seed 003), both inclusive.

use std::fmt;

use presence::availability::Availability;

/// The highest availability number that means anything ([MS-PRES]:
/// 0–18000 inclusive; 18500 is published for Offline and is accepted).
pub const MAX_AVAILABILITY: u32 = 18999;

/// One inclusive range `start-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First number in it.
    pub start: u32,
    /// Last number in it.
    pub end: u32,
}

impl Range {
    /// Whether the number lies in it.
    pub fn contains(&self, availability: Availability) -> bool {
        (self.start..=self.end).contains(&availability.value())
    }

    /// Whether the two share a number.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Reads `start-end` (or one number); the message says what is wrong.
    pub fn parse(text: &str) -> Result<Range, String> {
        let text = text.trim();
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let number = |s: &str| {
            let s = s.trim();
            s.parse::<u32>().map_err(|_| {
                format!("{s:?} is not a number (expected start-end such as 3000-5999)")
            })
        };
        let (start, end) = (number(a)?, number(b)?);
        if start > end {
            return Err(format!("{start}-{end} starts after it ends"));
        }
        if end > MAX_AVAILABILITY {
            return Err(format!(
                "{end} is above {MAX_AVAILABILITY}, beyond any availability"
            ));
        }
        Ok(Range { start, end })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Comma-separated ranges, none overlapping another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(pub Vec<Range>);

impl Ranges {
    /// Reads `3000-5999,12000-14999`; the message names the bad part.
    pub fn parse(text: &str) -> Result<Ranges, String> {
        let mut ranges: Vec<Range> = Vec::new();
        for part in text.split(',') {
            let range = Range::parse(part)?;
            if let Some(other) = ranges.iter().find(|r| r.overlaps(&range)) {
                return Err(format!("{range} overlaps {other}"));
            }
            ranges.push(range);
        }
        ranges.sort();
        Ok(Ranges(ranges))
    }

    /// Whether any range holds the number.
    pub fn contains(&self, availability: Availability) -> bool {
        self.0.iter().any(|r| r.contains(availability))
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use presence::availability::Availability;

    use super::{Range, Ranges};

    #[test]
    fn seed_002_ranges_read_and_match() {
        let r = Ranges::parse("3000-5999,12000-14999").unwrap();
        assert!(r.contains(Availability::new(3000)));
        assert!(r.contains(Availability::new(4500)));
        assert!(!r.contains(Availability::new(6000)));
        assert!(!r.contains(Availability::DO_NOT_DISTURB));
        assert!(r.contains(Availability::BE_RIGHT_BACK));
        assert_eq!(r.to_string(), "3000-5999,12000-14999");
    }

    #[test]
    fn bad_ranges_say_why() {
        assert!(Ranges::parse("3000-5999,5000-6000")
            .unwrap_err()
            .contains("5000-6000 overlaps 3000-5999"));
        assert!(Range::parse("6000-3000")
            .unwrap_err()
            .contains("starts after"));
        assert!(Range::parse("3000-x")
            .unwrap_err()
            .contains("\"x\" is not a number"));
        assert!(Range::parse("3000-20000").unwrap_err().contains("above"));
        assert_eq!(
            Range::parse("9000").unwrap(),
            Range {
                start: 9000,
                end: 9000
            }
        );
    }
}
