//! Writing bitstream headers, and reading the V4L2 controls' uAPI structs they are rebuilt from.
//!
//! The uAPI structs (`<linux/v4l2-controls.h>`) have a fixed layout and arrive as the kernel's
//! bytes, in the machine's byte order; the codec modules read their fields at fixed offsets.

#![forbid(unsafe_code)]

use thiserror::Error;

/// A job's control that is missing, or whose payload is not the size of its uAPI struct.
#[derive(Debug, Error, PartialEq)]
pub enum CtrlError {
    #[error("missing control {0:#x}")]
    Missing(u32),
    #[error("control {id:#x} is {got} bytes, expected {want}")]
    Size { id: u32, got: usize, want: usize },
}

/// The payload of control `id`, if it is `want` bytes long.
pub fn sized(id: u32, data: &[u8], want: usize) -> Result<&[u8], CtrlError> {
    if data.len() == want {
        Ok(data)
    } else {
        Err(CtrlError::Size {
            id,
            got: data.len(),
            want,
        })
    }
}

/// A native-endian `u16` at `off`.
pub fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

/// A native-endian `u32` at `off`.
pub fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// A native-endian `u64` at `off`.
pub fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// A native-endian `i32` at `off`.
pub fn i32_at(b: &[u8], off: usize) -> i32 {
    u32_at(b, off) as i32
}

/// A native-endian `i16` at `off`.
pub fn i16_at(b: &[u8], off: usize) -> i16 {
    u16_at(b, off) as i16
}

/// A bit writer, most significant bit first: the fixed-width codes every header has, H.264's
/// Exp-Golomb codes (H.264 9.1) and AV1's signed and non-symmetric codes (AV1 4.10).
#[derive(Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0: start a new one).
    used: u8,
}

impl BitWriter {
    pub fn flag(&mut self, b: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if b {
            *self.bytes.last_mut().expect("pushed") |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// u(n) / f(n): the `n` low bits of `v`, most significant first.
    pub fn u(&mut self, n: u32, v: u32) {
        for i in (0..n).rev() {
            self.flag((v >> i) & 1 != 0);
        }
    }

    /// ue(v): unsigned Exp-Golomb.
    pub fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let bits = 64 - x.leading_zeros();
        self.u(bits - 1, 0);
        for i in (0..bits).rev() {
            self.flag((x >> i) & 1 != 0);
        }
    }

    /// se(v): signed Exp-Golomb (positive k -> 2k-1, non-positive k -> -2k).
    pub fn se(&mut self, v: i32) {
        let k = i64::from(v);
        let code = if k > 0 { 2 * k - 1 } else { -2 * k };
        self.ue(code as u32);
    }

    /// su(n): `v` in `n` bits, two's complement.
    pub fn su(&mut self, n: u32, v: i32) {
        self.u(n, (v as u32) & ((1u32 << n) - 1));
    }

    /// ns(n): `v` in 0..n, non-symmetric (AV1 4.10.7).
    pub fn ns(&mut self, n: u32, v: u32) {
        debug_assert!(v < n);
        let w = 32 - n.leading_zeros(); // FloorLog2(n) + 1
        let m = (1u32 << w) - n;
        if v < m {
            self.u(w - 1, v);
        } else {
            let t = v + m;
            self.u(w - 1, t >> 1);
            self.u(1, t & 1);
        }
    }

    /// A stop bit, then zeros to the byte boundary (H.264 rbsp_trailing_bits, AV1
    /// trailing_bits).
    pub fn trailing_bits(&mut self) {
        self.flag(true);
        self.byte_align();
    }

    /// Zeros to the byte boundary.
    pub fn byte_align(&mut self) {
        while self.used != 0 {
            self.flag(false);
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bits written so far, as '0'/'1' (for tests).
    #[cfg(test)]
    pub fn to_bit_string(&self) -> String {
        let total = self.bytes.len() * 8
            - if self.used == 0 {
                0
            } else {
                8 - self.used as usize
            };
        self.bytes
            .iter()
            .flat_map(|b| {
                (0..8)
                    .rev()
                    .map(move |i| if (b >> i) & 1 == 1 { '1' } else { '0' })
            })
            .take(total)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(f: impl FnOnce(&mut BitWriter)) -> String {
        let mut w = BitWriter::default();
        f(&mut w);
        w.to_bit_string()
    }

    #[test]
    fn signed_fixed_width() {
        assert_eq!(bits(|w| w.su(7, -1)), "1111111");
        assert_eq!(bits(|w| w.su(7, 5)), "0000101");
        assert_eq!(bits(|w| w.su(7, -64)), "1000000");
    }

    #[test]
    fn non_symmetric() {
        // n = 5: w = 3, m = 3; 0..2 in 2 bits, 3 -> "110", 4 -> "111"
        let coded: Vec<String> = (0..5).map(|v| bits(|w| w.ns(5, v))).collect();
        assert_eq!(coded, ["00", "01", "10", "110", "111"]);
        // a power of two is plain fixed width
        assert_eq!(bits(|w| w.ns(8, 5)), "101");
        assert_eq!(bits(|w| w.ns(1, 0)), "");
    }
}
