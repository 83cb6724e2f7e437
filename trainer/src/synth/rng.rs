//! The scenes' deterministic randomness: SplitMix64 streams keyed by `(seed, index, tag)` and a
//! stateless hash of integers. Fixed forever: every built-in scene is a pure function of them.

pub(super) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn stream(seed: u64, index: u64, tag: u64) -> Rng {
        Rng(mix64(
            mix64(seed ^ 0xC1B1_E5EE_D000_0001)
                ^ mix64(index ^ 0x1D3C_0000_5EED_0002).rotate_left(17)
                ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        ))
    }
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform on [0, 1).
    pub(super) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    pub(super) fn f32(&mut self) -> f32 {
        self.f64() as f32
    }
    pub(super) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    pub(super) fn pick<T: Copy>(&mut self, table: &[(T, f64)]) -> T {
        let u = self.f64();
        let mut acc = 0.0;
        for &(v, p) in table {
            acc += p;
            if u < acc {
                return v;
            }
        }
        table[table.len() - 1].0
    }
}

/// Stateless hash of a few integers to [0, 1).
pub(super) fn hash01(key: u64, a: i64, b: i64) -> f32 {
    let h = mix64(
        key ^ mix64((a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).rotate_left(32)),
    );
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}
