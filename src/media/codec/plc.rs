//! Packet loss concealment for codecs without their own: repeat the last frame, fading out.

/// Consecutive lost frames after which concealment is silence (5 × 20 ms).
const FADE_FRAMES: u32 = 5;

/// Remembers the last decoded frame and stands in for lost ones with a fading copy of it.
#[derive(Debug, Default)]
pub(super) struct RepeatPlc {
    last: Vec<i16>,
    losses: u32,
}

impl RepeatPlc {
    /// Records a frame that decoded normally.
    pub(super) fn remember(&mut self, frame: &[i16]) {
        self.last.clear();
        self.last.extend_from_slice(frame);
        self.losses = 0;
    }

    /// Appends one concealed frame: the last good frame with a gain falling linearly from
    /// `1 - k/5` to `1 - (k+1)/5` over the k-th consecutive loss; `default_len` samples of
    /// silence when nothing was decoded yet. Returns the samples appended.
    pub(super) fn conceal(&mut self, out: &mut Vec<i16>, default_len: usize) -> usize {
        if self.last.is_empty() {
            out.resize(out.len() + default_len, 0);
            return default_len;
        }
        let n = self.last.len();
        let start = 1.0 - self.losses.min(FADE_FRAMES) as f32 / FADE_FRAMES as f32;
        let end = 1.0 - (self.losses + 1).min(FADE_FRAMES) as f32 / FADE_FRAMES as f32;
        self.losses = self.losses.saturating_add(1);
        out.extend(self.last.iter().enumerate().map(|(i, &s)| {
            let gain = start + (end - start) * i as f32 / n as f32;
            (s as f32 * gain) as i16
        }));
        n
    }
}
