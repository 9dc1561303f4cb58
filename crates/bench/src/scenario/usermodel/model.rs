//! The randomness of the user model, reproducible from a seed: the order
//! users sign in, each user's contacts, and the gaps between state
//! changes. SplitMix64 is enough for a load model (it is not for
//! cryptography) and costs no dependency; a seed replays a run exactly.

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, stirred with `stream` so that per-user
    /// generators of one seed are unrelated.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2⁻³² for the
    /// sizes a run has). 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in (0, 1], never 0, so its logarithm is finite.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// An exponential draw with this mean: the gap between events of a
    /// Poisson process, which is how independent users' changes arrive.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
}

/// The order in which users `0..n` sign in: a seeded Fisher–Yates shuffle,
/// so neighbours in numbering (and on the links, which go by number) do
/// not sign in together.
pub fn sign_in_order(n: u32, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n).collect();
    let mut rng = Rng::new(seed, u64::MAX);
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// User `u`'s contacts among `n` users: `c` distinct users other than `u`
/// (fewer when `n - 1 < c`), written into `out`. Floyd's sampling draws
/// exactly `c` numbers whatever `c / n`, and needs no per-user storage:
/// the list is recomputed from the seed when the user signs in.
pub fn contacts(u: u32, n: u32, c: u32, seed: u64, out: &mut Vec<u32>) {
    out.clear();
    let others = n.saturating_sub(1);
    let c = c.min(others);
    let mut rng = Rng::new(seed, u64::from(u));
    for j in (others - c)..others {
        let t = rng.below(u64::from(j) + 1) as u32;
        let pick = if out.contains(&t) { j } else { t };
        out.push(pick);
    }
    // Numbers are drawn among the others; skip over `u` itself.
    for x in out.iter_mut() {
        if *x >= u {
            *x += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_distinct_others_and_reproducible() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for u in 0..50 {
            contacts(u, 50, 12, 7, &mut a);
            assert_eq!(a.len(), 12);
            assert!(!a.contains(&u) && a.iter().all(|&x| x < 50), "{a:?}");
            let mut s = a.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 12);
            contacts(u, 50, 12, 7, &mut b);
            assert_eq!(a, b);
        }
        contacts(3, 50, 12, 8, &mut b);
        contacts(3, 50, 12, 7, &mut a);
        assert_ne!(a, b, "another seed, other contacts");
        // Everybody else, when C reaches N - 1.
        contacts(2, 5, 80, 1, &mut a);
        a.sort_unstable();
        assert_eq!(a, [0, 1, 3, 4]);
        contacts(0, 1, 80, 1, &mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn sign_in_order_is_a_seeded_permutation() {
        let o = sign_in_order(1000, 3);
        let mut s = o.clone();
        s.sort_unstable();
        assert!(s.iter().copied().eq(0..1000));
        assert_eq!(o, sign_in_order(1000, 3));
        assert_ne!(o, sign_in_order(1000, 4));
        assert_ne!(o[..10], s[..10], "shuffled");
    }

    #[test]
    fn exponential_gaps_have_the_mean_asked_for() {
        let mut r = Rng::new(1, 2);
        let n = 100_000;
        let mean = (0..n).map(|_| r.exponential(15.0)).sum::<f64>() / f64::from(n);
        assert!((mean - 15.0).abs() < 0.3, "{mean}");
        assert!((0..1000).all(|_| r.below(10) < 10));
        assert_eq!(r.below(0), 0);
    }
}
