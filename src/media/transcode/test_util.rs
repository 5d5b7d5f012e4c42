//! Test signals and measures for the transcoding tests: tones, a seeded PRNG, a Goertzel
//! frequency scan and the SNR of a tone against its best-fitting sine.

use std::f64::consts::PI;

/// `n` samples of a sine at `freq` Hz, amplitude `level` of full scale.
pub(crate) fn tone(freq: f64, rate: u32, n: usize, level: f64) -> Vec<i16> {
    (0..n).map(|i| ((2.0 * PI * freq * i as f64 / f64::from(rate)).sin() * level * 32767.0) as i16).collect()
}

/// Root mean square.
pub(crate) fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Power of `x` at `freq` Hz.
pub(crate) fn goertzel(x: &[i16], rate: u32, freq: f64) -> f64 {
    let coeff = 2.0 * (2.0 * PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The frequency (100 Hz up to 8 kHz or Nyquist, 5 Hz steps) with the most power in the first
/// 200 ms of `x`.
pub(crate) fn dominant_frequency(x: &[i16], rate: u32) -> f64 {
    let x = &x[..x.len().min(rate as usize / 5)];
    let top = (f64::from(rate) / 2.0).min(8_000.0);
    let mut best = (0.0, f64::MIN);
    let mut f = 100.0;
    while f < top {
        let p = goertzel(x, rate, f);
        if p > best.1 {
            best = (f, p);
        }
        f += 5.0;
    }
    best.0
}

/// SNR in dB of `x` against the sine at `freq` that fits it best (least squares), so delay
/// and gain do not count as noise.
pub(crate) fn tone_snr_db(x: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * PI * freq / f64::from(rate);
    let (mut ss, mut cc, mut sc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c, v) = ((w * i as f64).sin(), (w * i as f64).cos(), f64::from(v));
        ss += s * s;
        cc += c * c;
        sc += s * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let (mut signal, mut noise) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let fit = a * (w * i as f64).sin() + b * (w * i as f64).cos();
        signal += fit * fit;
        noise += (f64::from(v) - fit).powi(2);
    }
    10.0 * (signal / noise.max(1e-9)).log10()
}

/// A small seeded PRNG (xorshift64*), so loss and jitter patterns repeat.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
