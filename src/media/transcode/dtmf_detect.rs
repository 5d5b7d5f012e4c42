//! In-band DTMF: a Goertzel detector on the eight DTMF frequencies, and a tone synthesiser.
//!
//! The detector looks at 25.6 ms windows (205 samples at 8 kHz, scaled to the rate) every
//! 12.8 ms. A window holds a digit when one row and one column frequency carry at least 75 %
//! of its energy, each stands 6 dB above the others of its group, the twist is within
//! 8 dB (column louder) / 4 dB (row louder) as Q.24 allows, and the level is above −40 dBFS.
//! A digit starts after two such windows in a row (tones of 50 ms and more are found; under
//! 38 ms never) and ends after two windows without it, which keeps speech and single tones out.

use std::f32::consts::PI;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// RFC 4733 event codes by row and column: 1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D.
const EVENTS: [[u8; 4]; 4] = [[1, 2, 3, 12], [4, 5, 6, 13], [7, 8, 9, 14], [10, 0, 11, 15]];
/// Share of a window's energy the two tones must hold.
const MIN_TONE_SHARE: f32 = 0.75;
/// The strongest of a group against the next (6 dB in power).
const GROUP_PURITY: f32 = 4.0;
/// Column over row power at most (8 dB), row over column at most (4 dB).
const MAX_NORMAL_TWIST: f32 = 6.31;
const MAX_REVERSE_TWIST: f32 = 2.51;
/// Least mean power per sample (−40 dBFS on a full-scale sine).
const MIN_POWER: f32 = 32767.0 * 32767.0 / 2.0 * 1e-4;
/// Windows that must agree to start, and miss to end, a digit.
const HITS_TO_START: u8 = 2;
const MISSES_TO_END: u8 = 2;

/// Finds DTMF digits in a stream of PCM.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    window: usize,
    hop: usize,
    coeffs: [f32; 8],
    buf: Vec<f32>,
    candidate: Option<u8>,
    hits: u8,
    misses: u8,
    active: Option<u8>,
    detected: u64,
}

impl DtmfDetector {
    /// A detector for PCM at `rate` Hz.
    pub fn new(rate: u32) -> DtmfDetector {
        let window = (rate as usize * 205 / 8000).max(64);
        let mut coeffs = [0.0; 8];
        for (c, f) in coeffs.iter_mut().zip(ROWS.iter().chain(COLS.iter())) {
            *c = 2.0 * (2.0 * PI * f / rate as f32).cos();
        }
        DtmfDetector {
            window,
            hop: window / 2,
            coeffs,
            buf: Vec::with_capacity(window * 2),
            candidate: None,
            hits: 0,
            misses: 0,
            active: None,
            detected: 0,
        }
    }

    /// The digit (RFC 4733 event code) heard now, if any.
    pub fn active(&self) -> Option<u8> {
        self.active
    }

    /// Digits detected so far.
    pub fn detected(&self) -> u64 {
        self.detected
    }

    /// Feeds PCM; returns the digit heard after it, if any.
    pub fn process(&mut self, pcm: &[i16]) -> Option<u8> {
        for chunk in pcm.chunks(self.hop) {
            self.buf.extend(chunk.iter().map(|&s| f32::from(s)));
            while self.buf.len() >= self.window {
                let heard = self.classify();
                self.step(heard);
                self.buf.drain(..self.hop);
            }
        }
        self.active
    }

    fn step(&mut self, heard: Option<u8>) {
        if heard.is_some() && heard == self.candidate {
            self.hits = self.hits.saturating_add(1);
        } else {
            self.candidate = heard;
            self.hits = u8::from(heard.is_some());
        }
        if heard.is_some() && heard == self.active {
            self.misses = 0;
            return;
        }
        if self.active.is_some() {
            self.misses = self.misses.saturating_add(1);
            if self.misses >= MISSES_TO_END {
                self.active = None;
            }
        }
        if self.active.is_none() && self.hits >= HITS_TO_START {
            self.active = self.candidate;
            self.detected += 1;
            self.misses = 0;
        }
    }

    /// The digit one window holds, if it passes every check.
    fn classify(&self) -> Option<u8> {
        let x = &self.buf[..self.window];
        let energy: f32 = x.iter().map(|v| v * v).sum();
        let n = x.len() as f32;
        if energy / n < MIN_POWER {
            return None;
        }
        let mut p = [0.0f32; 8];
        for (pi, &c) in p.iter_mut().zip(&self.coeffs) {
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &v in x {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            // Normalised so that a pure sine holding all the energy scores 1.
            *pi = (s1 * s1 + s2 * s2 - c * s1 * s2) * 2.0 / (n * energy);
        }
        let (r, pr, r2) = best_two(&p[..4]);
        let (c, pc, c2) = best_two(&p[4..]);
        let pure = pr >= GROUP_PURITY * r2 && pc >= GROUP_PURITY * c2;
        let twist_ok = pc <= pr * MAX_NORMAL_TWIST && pr <= pc * MAX_REVERSE_TWIST;
        (pure && twist_ok && pr + pc >= MIN_TONE_SHARE).then(|| EVENTS[r][c])
    }
}

/// Index and power of the strongest entry, and the power of the runner-up.
fn best_two(p: &[f32]) -> (usize, f32, f32) {
    let mut best = (0, f32::MIN, f32::MIN);
    for (i, &v) in p.iter().enumerate() {
        if v > best.1 {
            best = (i, v, best.1);
        } else if v > best.2 {
            best.2 = v;
        }
    }
    best
}

/// Appends `n` samples of the DTMF tone of `event` (0–15) at `rate`, each frequency at
/// `level` of full scale, starting at sample `offset` of the tone (for continuous blocks).
pub fn synthesize(event: u8, rate: u32, offset: usize, n: usize, level: f32, out: &mut Vec<i16>) {
    let Some((r, c)) = (0..16).find_map(|i| (EVENTS[i / 4][i % 4] == event).then_some((i / 4, i % 4))) else {
        out.resize(out.len() + n, 0);
        return;
    };
    let tau = 2.0 * std::f64::consts::PI;
    let (fr, fc) = (f64::from(ROWS[r]), f64::from(COLS[c]));
    let rate = f64::from(rate);
    out.extend((offset..offset + n).map(|i| {
        // Phase kept in turns modulo 1 so long tones stay exact.
        let t = i as f64 / rate;
        let v = ((tau * (fr * t).fract()).sin() + (tau * (fc * t).fract()).sin()) * f64::from(level) * 32767.0;
        v.clamp(-32768.0, 32767.0) as i16
    }));
}

#[cfg(test)]
#[path = "dtmf_detect_tests.rs"]
mod tests;
