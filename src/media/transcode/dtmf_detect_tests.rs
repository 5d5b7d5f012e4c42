use super::*;
use crate::media::transcode::test_util::{tone, Rng};

/// Runs a signal through a detector in 20 ms blocks; returns the digits in the order they started.
fn digits(pcm: &[i16], rate: u32) -> Vec<u8> {
    let mut d = DtmfDetector::new(rate);
    let mut seen = Vec::new();
    let mut last = None;
    for block in pcm.chunks(rate as usize / 50) {
        let now = d.process(block);
        if now.is_some() && now != last {
            seen.extend(now);
        }
        last = now;
    }
    seen
}

fn silence(rate: u32, ms: usize, out: &mut Vec<i16>) {
    out.resize(out.len() + rate as usize * ms / 1000, 0);
}

#[test]
fn all_sixteen_digits_are_found_at_every_rate() {
    let all: Vec<u8> = (0..16).collect();
    for rate in [8_000, 16_000, 48_000] {
        let mut pcm = Vec::new();
        for &e in &all {
            synthesize(e, rate, 0, rate as usize / 10, 0.3, &mut pcm);
            silence(rate, 60, &mut pcm);
        }
        assert_eq!(digits(&pcm, rate), all, "at {rate} Hz");
    }
}

#[test]
fn the_same_digit_twice_is_two_digits_and_weak_twisted_tones_still_count() {
    let mut pcm = Vec::new();
    synthesize(5, 8000, 0, 560, 0.2, &mut pcm);
    silence(8000, 60, &mut pcm);
    synthesize(5, 8000, 0, 560, 0.2, &mut pcm);
    silence(8000, 60, &mut pcm);
    // 9: 852 Hz + 1477 Hz with the column 6 dB louder, at −30 dBFS overall.
    let row = tone(852.0, 8000, 560, 0.02);
    let col = tone(1477.0, 8000, 560, 0.04);
    pcm.extend(row.iter().zip(&col).map(|(a, b)| a + b));
    silence(8000, 60, &mut pcm);
    assert_eq!(digits(&pcm, 8000), vec![5, 5, 9]);
}

#[test]
fn short_tones_and_non_dtmf_signals_are_not_digits() {
    let rate = 8000;
    let mut pcm = Vec::new();
    synthesize(1, rate, 0, 240, 0.3, &mut pcm); // 30 ms: too short
    silence(rate, 100, &mut pcm);
    pcm.extend(tone(1000.0, rate, 8000, 0.5)); // a single tone
    pcm.extend(tone(697.0, rate, 8000, 0.5)); // one DTMF frequency alone
    let a = tone(1000.0, rate, 8000, 0.3);
    let b = tone(1500.0, rate, 8000, 0.3);
    pcm.extend(a.iter().zip(&b).map(|(x, y)| x + y)); // two tones, not DTMF
    let mut rng = Rng::new(7);
    pcm.extend((0..8000).map(|_| ((rng.unit() - 0.5) * 20000.0) as i16)); // noise
    pcm.extend(speech_like(rate, 4.0));
    assert_eq!(digits(&pcm, rate), Vec::<u8>::new());
}

/// A vowel-like signal: a glottal pulse train with a gliding pitch (90–260 Hz) through three
/// formant resonators that move between vowels, with syllable-rate amplitude changes.
pub(crate) fn speech_like(rate: u32, seconds: f64) -> Vec<i16> {
    let n = (f64::from(rate) * seconds) as usize;
    let fs = f64::from(rate);
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0;
    let mut res = [[0.0f64; 2]; 3];
    let vowels = [[730.0, 1090.0, 2440.0], [270.0, 2290.0, 3010.0], [300.0, 870.0, 2240.0], [530.0, 1840.0, 2480.0]];
    for i in 0..n {
        let t = i as f64 / fs;
        let pitch = 175.0 + 85.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
        phase += pitch / fs;
        let pulse = if phase >= 1.0 {
            phase -= 1.0;
            1.0
        } else {
            0.0
        };
        let v = vowels[(t * 4.0) as usize % vowels.len()];
        let mut y = 0.0;
        for (k, f) in v.iter().enumerate() {
            let r = (-std::f64::consts::PI * 80.0 / fs).exp();
            let a1 = 2.0 * r * (2.0 * std::f64::consts::PI * f / fs).cos();
            let s = pulse + a1 * res[k][0] - r * r * res[k][1];
            res[k][1] = res[k][0];
            res[k][0] = s;
            y += s;
        }
        let envelope = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin().abs();
        out.push((y * 900.0 * envelope).clamp(-32768.0, 32767.0) as i16);
    }
    out
}
