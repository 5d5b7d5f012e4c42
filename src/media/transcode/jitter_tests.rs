use super::*;
use crate::testing::epoch;

const MS: Duration = Duration::from_millis(1);

fn jb() -> JitterBuffer {
    JitterBuffer::new(JitterConfig::new(8000, 20 * MS))
}

/// Pops everything due at `now`, as (`P`acket first byte | `L`ost | `G`ap) labels.
fn drain(j: &mut JitterBuffer, now: Instant) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match j.pop(now) {
            Playout::Wait(_) | Playout::Idle => return out,
            Playout::Packet { payload, .. } => out.push(format!("P{}", payload[0])),
            Playout::Lost { next_present } => out.push(if next_present { "L+".into() } else { "L".into() }),
            Playout::Gap => out.push("G".into()),
        }
    }
}

#[test]
fn reorders_drops_duplicates_and_reports_loss_with_the_next_packet() {
    let t0 = epoch();
    let mut j = jb();
    assert_eq!(j.pop(t0), Playout::Idle);
    // seq 0..5 with 2 missing and 3/4 swapped; 1 duplicated.
    for (at, seq) in [(0u32, 0u16), (20, 1), (21, 1), (80, 4), (81, 3), (100, 5)] {
        j.insert(t0 + MS * at, 7, seq, u32::from(seq) * 160, false, &[seq as u8]);
    }
    assert_eq!(j.stats().duplicates, 1);
    assert!(matches!(j.pop(t0 + 10 * MS), Playout::Wait(_)));
    let got = drain(&mut j, t0 + 60 * MS + 100 * MS);
    assert_eq!(got[..6], ["P0", "P1", "L+", "P3", "P4", "P5"]);
    let s = j.stats();
    assert_eq!((s.played, s.lost, s.received), (5, 1, 5));
}

#[test]
fn late_packets_are_dropped_and_counted() {
    let t0 = epoch();
    let mut j = jb();
    j.insert(t0, 1, 10, 1600, false, &[0]);
    // Played out at 60 ms; seq 11 is due at 80 ms and arrives at 95 ms.
    assert_eq!(drain(&mut j, t0 + 60 * MS), ["P0"]);
    let got = drain(&mut j, t0 + 80 * MS);
    assert_eq!(got, ["L"]);
    j.insert(t0 + 95 * MS, 1, 11, 1760, false, &[1]);
    assert_eq!(j.stats().late, 1);
}

#[test]
fn sequence_and_timestamp_wrap_are_continuous() {
    let t0 = epoch();
    let mut j = jb();
    let mut played = Vec::new();
    for i in 0..10u32 {
        let seq = 65530u16.wrapping_add(i as u16);
        let ts = (u32::MAX - 800).wrapping_add(i * 160);
        let now = t0 + 20 * MS * i;
        j.insert(now, 3, seq, ts, false, &[i as u8]);
        played.extend(drain(&mut j, now));
    }
    played.extend(drain(&mut j, t0 + 400 * MS));
    let want: Vec<String> = (0..10).map(|i| format!("P{i}")).collect();
    assert_eq!(played[..10], want[..]);
    assert_eq!(j.stats().played, 10);
}

#[test]
fn a_new_ssrc_or_a_timestamp_jump_restarts_without_stopping_the_cadence() {
    let t0 = epoch();
    let mut j = jb();
    j.insert(t0, 1, 100, 5000, false, &[1]);
    assert_eq!(drain(&mut j, t0 + 60 * MS), ["P1"]);
    let due = j.next_due().unwrap();
    j.insert(t0 + 70 * MS, 2, 9, 123_456, true, &[2]);
    assert_eq!(j.stats().resyncs, 1);
    assert_eq!(j.next_due(), Some(due), "the output cadence stays");
    // The new source is played (after the buffer has grown back to its target).
    let got = drain(&mut j, t0 + 200 * MS);
    assert!(got.contains(&"P2".to_string()), "{got:?}");
    // Same SSRC, timestamp jumps 10 s ahead: a resync, not 500 frames of loss.
    j.insert(t0 + 210 * MS, 2, 10, 123_456 + 80_000, false, &[3]);
    assert_eq!(j.stats().resyncs, 2);
    let got = drain(&mut j, t0 + 400 * MS);
    assert!(got.contains(&"P3".to_string()) && got.len() < 12, "{got:?}");
}

#[test]
fn silence_gaps_are_not_losses() {
    let t0 = epoch();
    let mut j = jb();
    j.insert(t0, 1, 1, 0, false, &[1]);
    // The sender pauses 100 ms (DTX): the next packet has the next sequence number.
    j.insert(t0 + 120 * MS, 1, 2, 960, true, &[2]);
    let got = drain(&mut j, t0 + 190 * MS);
    assert_eq!(got[0], "P1");
    assert!(got.contains(&"G".to_string()) && got.contains(&"P2".to_string()), "{got:?}");
    assert_eq!(j.stats().lost, 0);
}

#[test]
fn the_delay_grows_with_jitter_and_stays_bounded() {
    let t0 = epoch();
    let mut j = jb();
    let mut x = 12345u64;
    // Up to 150 ms of jitter: more than the start delay, less than the bound.
    let mut arrivals: Vec<(u32, u32)> = (0..500u32)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (20 * i + (x % 150) as u32, i)
        })
        .collect();
    arrivals.sort();
    let mut next = 0;
    let mut lost = 0;
    for ms in 0..10_200u32 {
        while next < arrivals.len() && arrivals[next].0 <= ms {
            let i = arrivals[next].1;
            j.insert(t0 + MS * ms, 9, i as u16, i * 160, false, &[0]);
            next += 1;
        }
        for p in drain(&mut j, t0 + MS * ms) {
            lost += usize::from(p.starts_with('L'));
        }
    }
    let s = j.stats();
    assert!(s.delay_max_ms <= 200, "{s:?}");
    assert!(s.delay_p99_ms >= 100, "the buffer grew: {s:?}");
    assert!(s.stretched > 0, "{s:?}");
    assert!(s.late < 25, "{s:?}");
    assert!(lost < 40, "{lost} lost, {s:?}");
}
