//! A Zipf-distributed sampler: rank k of 1..=n drawn with probability ∝ 1/k^s.
//!
//! Rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to generate
//! variates from monotone discrete distributions", ACM TOMACS 6(3), 1996), as in Apache
//! Commons Math's `ZipfRejectionInversionSampler`. It needs O(1) memory and O(1)
//! expected time per draw whatever n is, unlike a cumulative table (O(n) memory and
//! set-up, too much for a key space of millions), and it is exact, unlike the
//! approximation YCSB uses (whose error grows as s approaches 1).
//!
//! The idea: sample a continuous variable whose density h(x) = x^-s bounds the
//! discrete probabilities from above, by inverting its integral H; round to the nearest
//! integer k; accept k unless it fell in the small sliver where h overestimates. The
//! `helper` functions keep H and its inverse accurate near s = 1, where the textbook
//! forms divide by 1 - s.

use super::rng::Rng;

#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    /// Below this distance from x, k is accepted without evaluating H again (the
    /// squeeze that makes most draws cost one logarithm and one exponential).
    squeeze: f64,
}

impl Zipf {
    /// Ranks 1..=n with exponent s (> 0, finite; checked by the argument parser).
    pub fn new(n: u64, s: f64) -> Zipf {
        let mut z = Zipf {
            n: n as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            squeeze: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.squeeze = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in 1..=n; 1 is the most frequent.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            // Uniform in (h_integral_x1, h_integral_n].
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// H(x) = ∫ h, written so that it stays accurate as s → 1.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        // Rounding can push t a hair below -1, where log1p is undefined.
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, with its Taylor series near 0 where the quotient loses precision.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, likewise.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The observed frequency of every rank is within a few standard errors of the
    /// exact probability, for exponents on both sides of the delicate s = 1.
    #[test]
    fn frequencies_match_the_exact_distribution() {
        const N: u64 = 20;
        const DRAWS: usize = 400_000;
        for s in [0.5, 0.99, 1.0, 1.2, 2.0] {
            let zipf = Zipf::new(N, s);
            let mut rng = Rng::new(42, 0);
            let mut counts = vec![0u64; N as usize + 1];
            for _ in 0..DRAWS {
                let k = zipf.sample(&mut rng);
                assert!((1..=N).contains(&k));
                counts[k as usize] += 1;
            }
            let norm: f64 = (1..=N).map(|k| (k as f64).powf(-s)).sum();
            for k in 1..=N {
                let p = (k as f64).powf(-s) / norm;
                let expected = p * DRAWS as f64;
                let sd = (DRAWS as f64 * p * (1.0 - p)).sqrt();
                let got = counts[k as usize] as f64;
                assert!(
                    (got - expected).abs() < 5.0 * sd,
                    "s={s} k={k}: {got} draws, expected {expected:.0} ± {sd:.0}"
                );
            }
        }
    }

    #[test]
    fn a_single_element_and_a_huge_space() {
        let mut rng = Rng::new(1, 0);
        assert_eq!(Zipf::new(1, 0.99).sample(&mut rng), 1);
        let big = Zipf::new(1 << 40, 0.99);
        for _ in 0..1000 {
            assert!((1..=1 << 40).contains(&big.sample(&mut rng)));
        }
    }
}
