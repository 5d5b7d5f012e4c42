#!/usr/bin/env python3
"""Converts espeak-ng's WAV (22050 Hz mono 16-bit) to the 8 kHz mono 16-bit PCM WAV ncgw plays,
with a windowed-sinc low-pass (band edge 3.4 kHz) so the speech does not alias. Also writes the
comfort tone. Standard library only.

  resample.py IN.wav OUT.wav       convert one file
  resample.py --tone OUT.wav       write the comfort tone (a soft two-chord chime, 6 s, loops)
"""
import math
import struct
import sys
import wave

RATE = 8000


def write(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", max(-32768, min(32767, int(round(s))))) for s in samples))


def convert(src, dst):
    with wave.open(src, "rb") as r:
        if r.getnchannels() != 1 or r.getsampwidth() != 2:
            sys.exit(f"{src}: need mono 16-bit")
        rate = r.getframerate()
        raw = r.readframes(r.getnframes())
    x = struct.unpack(f"<{len(raw) // 2}h", raw)
    cutoff = 3400.0 / rate
    half = 32
    out = []
    n_out = int(len(x) * RATE / rate)
    for i in range(n_out):
        t = i * rate / RATE
        c = int(t)
        acc = 0.0
        for k in range(c - half + 1, c + half + 1):
            if 0 <= k < len(x):
                d = t - k
                sinc = 2 * cutoff if d == 0 else math.sin(2 * math.pi * cutoff * d) / (math.pi * d)
                win = 0.5 + 0.5 * math.cos(math.pi * d / half)
                acc += x[k] * sinc * win
        out.append(acc)
    # Trim espeak's leading/trailing silence to 60 ms, then normalise to about -6 dBFS peak.
    thr = 300
    first = next((i for i, s in enumerate(out) if abs(s) > thr), 0)
    last = len(out) - next((i for i, s in enumerate(reversed(out)) if abs(s) > thr), 0)
    pad = int(0.06 * RATE)
    out = out[max(0, first - pad):min(len(out), last + pad)]
    peak = max((abs(s) for s in out), default=1) or 1
    write(dst, [s * 16000 / peak for s in out])


def tone(dst):
    # Two soft chords (C-E-G, then A-C-E), each note with a bell-like decay, then a pause.
    chords = [(523.25, 659.25, 783.99), (440.0, 523.25, 659.25)]
    out = [0.0] * int(6 * RATE)
    for n, chord in enumerate(chords):
        start = int(n * 1.5 * RATE)
        for j, f in enumerate(chord):
            onset = start + int(j * 0.12 * RATE)
            for i in range(int(2.2 * RATE)):
                if onset + i < len(out):
                    env = math.exp(-i / (0.5 * RATE)) * min(1.0, i / 80)
                    out[onset + i] += 2500 * env * math.sin(2 * math.pi * f * i / RATE)
    write(dst, out)


if __name__ == "__main__":
    if sys.argv[1] == "--tone":
        tone(sys.argv[2])
    else:
        convert(sys.argv[1], sys.argv[2])
