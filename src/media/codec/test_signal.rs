//! Test signals and quality measures for the codec tests: tones, espeak-ng speech, SNR,
//! delay-aligned cross-correlation and a Goertzel scan for the dominant frequency.

use std::f64::consts::PI;
use std::process::Command;
use std::sync::OnceLock;

/// `n` samples of a sine at `freq` Hz, amplitude `level` of full scale.
pub(crate) fn tone(freq: f64, rate: u32, n: usize, level: f64) -> Vec<i16> {
    (0..n).map(|i| ((2.0 * PI * freq * i as f64 / rate as f64).sin() * level * 32767.0) as i16).collect()
}

/// Root mean square of a signal.
pub(crate) fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Signal-to-noise ratio of `output` against `input`, sample by sample (no delay), in dB.
pub(crate) fn snr_db(input: &[i16], output: &[i16]) -> f64 {
    let n = input.len().min(output.len());
    let signal: f64 = input[..n].iter().map(|&s| (s as f64).powi(2)).sum();
    let noise: f64 = input[..n].iter().zip(&output[..n]).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    10.0 * (signal / noise.max(1.0)).log10()
}

/// SNR after shifting `output` by the lag (0..=max_lag samples) that matches best, and that lag.
pub(crate) fn aligned_snr_db(input: &[i16], output: &[i16], max_lag: usize) -> (f64, usize) {
    let (_, lag) = best_correlation(input, output, max_lag);
    (snr_db(input, &output[lag.min(output.len())..]), lag)
}

/// Normalised cross-correlation of `input` with `output` delayed by 0..=max_lag samples:
/// the best value (1.0 = same waveform up to a gain) and its lag.
pub(crate) fn best_correlation(input: &[i16], output: &[i16], max_lag: usize) -> (f64, usize) {
    let mut best = (f64::MIN, 0);
    for lag in 0..=max_lag.min(output.len()) {
        let out = &output[lag..];
        let n = input.len().min(out.len());
        if n == 0 {
            break;
        }
        let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
        for (&a, &b) in input[..n].iter().zip(&out[..n]) {
            let (a, b) = (a as f64, b as f64);
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        let c = xy / (xx * yy).sqrt().max(1.0);
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// Power of `x` at `freq` Hz (Goertzel filter).
fn goertzel(x: &[i16], rate: u32, freq: f64) -> f64 {
    let coeff = 2.0 * (2.0 * PI * freq / rate as f64).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The frequency between 100 Hz and 8 kHz or Nyquist (5 Hz steps) where the first 200 ms of
/// `x` have the most power (a 200 ms window resolves 5 Hz).
pub(crate) fn dominant_frequency(x: &[i16], rate: u32) -> f64 {
    let x = &x[..x.len().min(rate as usize / 5)];
    let top = (rate as f64 / 2.0).min(8_000.0);
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

/// A few seconds of synthetic speech from espeak-ng at `rate`, or `None` (with a note) when
/// espeak-ng is not installed (`tools/setup` installs it).
pub(crate) fn speech(rate: u32) -> Option<Vec<i16>> {
    static RAW: OnceLock<Option<(Vec<i16>, u32)>> = OnceLock::new();
    let (pcm, from) = RAW.get_or_init(generate_speech).as_ref()?;
    Some(resample(pcm, *from, rate))
}

fn generate_speech() -> Option<(Vec<i16>, u32)> {
    let dir = tempfile::tempdir().ok()?;
    let wav = dir.path().join("speech.wav");
    let text = "Good morning. You are connected to the customer service centre. \
                Please hold the line, an advisor will answer your call shortly.";
    let status = Command::new("espeak-ng").arg("-w").arg(&wav).arg(text).status();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("note: espeak-ng is not installed; skipping the speech part (run tools/setup)");
            return None;
        }
    }
    let bytes = std::fs::read(&wav).ok()?;
    let parsed = parse_wav(&bytes);
    assert!(parsed.is_some(), "espeak-ng wrote a WAV file we cannot read");
    parsed
}

/// Reads a mono 16-bit PCM WAV file.
fn parse_wav(b: &[u8]) -> Option<(Vec<i16>, u32)> {
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut rate = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = &b[pos + 8..(pos + 8).saturating_add(len).min(b.len())];
        if id == b"fmt " {
            let format = u16::from_le_bytes(body.get(0..2)?.try_into().ok()?);
            let channels = u16::from_le_bytes(body.get(2..4)?.try_into().ok()?);
            let bits = u16::from_le_bytes(body.get(14..16)?.try_into().ok()?);
            if format != 1 || channels != 1 || bits != 16 {
                return None;
            }
            rate = Some(u32::from_le_bytes(body.get(4..8)?.try_into().ok()?));
        } else if id == b"data" {
            let pcm = body.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
            return Some((pcm, rate?));
        }
        pos += 8 + len + (len & 1);
    }
    None
}

/// Windowed-sinc resampling, low-passed below the lower Nyquist rate.
pub(crate) fn resample(x: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return x.to_vec();
    }
    const HALF: i64 = 24;
    let ratio = to as f64 / from as f64;
    let cutoff = 0.9 * ratio.min(1.0); // in cycles per input sample × 2
    let taps = (HALF as f64 / ratio.min(1.0)) as i64;
    let n_out = (x.len() as f64 * ratio) as usize;
    (0..n_out)
        .map(|j| {
            let t = j as f64 / ratio;
            let centre = t.floor() as i64;
            let mut acc = 0.0;
            for k in centre - taps..=centre + taps {
                if k < 0 || k >= x.len() as i64 {
                    continue;
                }
                let d = t - k as f64;
                let sinc = if d == 0.0 { 1.0 } else { (PI * cutoff * d).sin() / (PI * cutoff * d) };
                let w = 0.5 + 0.5 * (PI * d / (taps as f64 + 1.0)).cos();
                acc += x[k as usize] as f64 * cutoff * sinc * w;
            }
            acc.clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// A speech-like fallback-free check that the helpers measure what they claim.
#[test]
fn helpers_measure_what_they_say() {
    let t = tone(1000.0, 16_000, 3200, 0.5);
    assert!((dominant_frequency(&t, 16_000) - 1000.0).abs() <= 5.0);
    let mut delayed = vec![0i16; 37];
    delayed.extend_from_slice(&t);
    let (c, lag) = best_correlation(&t[..1600], &delayed, 100);
    assert!(c > 0.999);
    assert_eq!(lag, 37);
    let down = resample(&t, 16_000, 8_000);
    assert!((dominant_frequency(&down[100..], 8_000) - 1000.0).abs() <= 5.0);
}
