//! The header rebuilders fed hostile controls: a client chooses every byte of the stateless
//! controls the daemon turns into H.264 parameter sets and AV1 OBUs, and nothing it sends may
//! panic the daemon (a panic would end every stream, not the one job). Seeded random controls,
//! their bytes biased towards the small and boundary values that reach deep into the writers
//! (zero, one, small counts, all ones), through the same entry points as decode jobs.
//! Run in the dev profile too (`cargo test hostile_ctrls`), arithmetic overflow panics as
//! well: that is how the defects fixed with these tests were found (an AV1 `cdef_bits` over 3
//! indexed past the strengths; sizes, global motion parameters and order hints overflowed).

#![cfg(test)]

use crate::{
    av1::{self, uapi},
    h264,
};

/// xorshift64*: deterministic, so that a failing case can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// One control's bytes, `len` of them: mostly zeros and small values, some boundaries.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.next() % 8 {
                0..=3 => 0,
                4 | 5 => (self.next() % 4) as u8,
                6 => 0xff,
                _ => self.next() as u8,
            })
            .collect()
    }
}

const ROUNDS: u64 = 20_000;

#[test]
fn h264_parameter_sets_from_random_controls_never_panic() {
    let mut rng = Rng(0x2026_1205);
    let mut rebuilt = 0;
    for _ in 0..ROUNDS {
        let ctrls = [
            (h264::CID_SPS, rng.bytes(1048)),
            (h264::CID_PPS, rng.bytes(12)),
            (h264::CID_SCALING_MATRIX, rng.bytes(480)),
            (h264::CID_DECODE_PARAMS, rng.bytes(560)),
        ];
        let find = |id| {
            ctrls
                .iter()
                .find(|(c, _)| *c == id)
                .map(|(_, d)| d.as_slice())
        };
        if let Ok(headers) = h264::Headers::from_ctrls(find) {
            assert!(!headers.nals().is_empty());
            rebuilt += 1;
        }
        // The writers, also for what check_supported refuses.
        if let (Ok(sps), Ok(pps)) = (h264::Sps::parse(&ctrls[0].1), h264::Pps::parse(&ctrls[1].1)) {
            let matrix = h264::ScalingMatrix::parse(&ctrls[2].1).ok();
            sps.nal();
            pps.nal(&sps, matrix.as_ref());
        }
    }
    // the controls must get past the checks often enough to exercise the writers
    assert!(rebuilt > ROUNDS / 20, "only {rebuilt} of {ROUNDS} rebuilt");
}

/// A sequence control of a stream the daemon decodes (main profile, 4:2:0, 8 or 10 bits; the
/// others are refused before any OBU is written), its other fields random: the frame controls
/// are where the writers go deep.
fn av1_sequence(rng: &mut Rng) -> Vec<u8> {
    let mut seq = rng.bytes(12);
    let flags = (u32::from_le_bytes(seq[..4].try_into().unwrap())
        | uapi::SEQ_FLAG_SUBSAMPLING_X
        | uapi::SEQ_FLAG_SUBSAMPLING_Y)
        & !uapi::SEQ_FLAG_MONO_CHROME;
    seq[..4].copy_from_slice(&flags.to_le_bytes());
    seq[4] = 0; // seq_profile
    seq[5] = 1 + seq[5] % 8; // order_hint_bits
    seq[6] = if rng.next() % 2 == 0 { 8 } else { 10 };
    seq[8..10].copy_from_slice(&((rng.next() % 512) as u16).to_le_bytes());
    seq[10..12].copy_from_slice(&((rng.next() % 512) as u16).to_le_bytes());
    seq
}

/// A frame control whose type, size and tiling are in range for `seq` (so that most get
/// past the checks), the rest random.
fn av1_frame(rng: &mut Rng, seq: &[u8]) -> Vec<u8> {
    let mut f = rng.bytes(1784);
    let max = |at: usize| u64::from(u16::from_le_bytes([seq[at], seq[at + 1]]));
    let mut put = |at: usize, v: u64| f[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
    put(1512, rng.next() % 4); // frame_type
    put(1532, rng.next() % (max(8) + 1)); // frame_width_minus_1
    put(1536, rng.next() % (max(10) + 1)); // frame_height_minus_1
    if rng.next() % 2 == 0 {
        f[0] |= uapi::TILE_INFO_FLAG_UNIFORM_TILE_SPACING;
        f[2] = 1; // tile_cols
        f[3] = 1; // tile_rows
    }
    f
}

#[test]
fn av1_obus_from_random_controls_never_panic() {
    let mut rng = Rng(0x0a01_2026);
    let mut refs = av1::Refs::default();
    let (mut reached, mut built) = (0, 0);
    for round in 0..ROUNDS {
        let tiles = 1 + (rng.next() % 4) as usize;
        let seq = av1_sequence(&mut rng);
        let frame = av1_frame(&mut rng, &seq);
        let ctrls = [
            (av1::CID_SEQUENCE, seq),
            (av1::CID_FRAME, frame),
            (av1::CID_TILE_GROUP_ENTRY, rng.bytes(16 * tiles)),
            (av1::CID_FILM_GRAIN, rng.bytes(194)),
        ];
        let n = if round % 2 == 0 { 4 } else { 3 }; // with and without film grain
        let find = |id| {
            ctrls[..n]
                .iter()
                .find(|(c, _)| *c == id)
                .map(|(_, d)| d.as_slice())
        };
        if let Ok(frame) = av1::Frame::from_ctrls(find) {
            let len = (rng.next() % 4096) as usize;
            let data = rng.bytes(len);
            reached += 1;
            let mut obus = Vec::new();
            frame.seq.push_obu(&mut obus);
            if frame.push_obus(&mut refs, round, &data, &mut obus).is_ok() {
                built += 1;
            }
        }
    }
    // most reach the frame header writer; a few random ones are whole valid frames
    assert!(
        reached > ROUNDS / 2,
        "only {reached} of {ROUNDS} frames reached the writers"
    );
    assert!(built > 0, "no frame of {ROUNDS} was written whole");
}
