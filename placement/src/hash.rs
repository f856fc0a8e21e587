//! The stable hash: XXH64 (seed 0), written out here so it can never change under us.
//!
//! Placement must give the same answer on every node, on every machine and in every version, so
//! nothing here may depend on `std`'s `DefaultHasher` (randomly keyed, and its algorithm is not
//! promised) or on the platform. XXH64 is a published, frozen algorithm; the tests pin it to the
//! reference vectors, so an accidental edit fails the build instead of silently moving every shard.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// XXH64 of `bytes` with seed 0. Never changes between versions or machines.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxh64(bytes, 0)
}

/// The shard a key belongs to: `stable_hash(key) % n_shards`.
///
/// `n_shards == 0` is not a valid cluster setting (see `PlacementConfig::validate`); it maps every
/// key to shard 0 rather than dividing by zero.
pub fn shard_of(key: &[u8], n_shards: u32) -> u32 {
    if n_shards == 0 {
        return 0;
    }
    // The remainder is < n_shards, which fits in u32.
    (stable_hash(key) % u64::from(n_shards)) as u32
}

/// XXH64 with an explicit seed, as specified by the xxHash reference.
pub(crate) fn xxh64(bytes: &[u8], seed: u64) -> u64 {
    let mut rest = bytes;
    let mut h = if bytes.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 32 {
            for (lane, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, read_u64(&rest[lane * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for acc in v {
            h = merge_round(h, acc);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(bytes.len() as u64);
    while rest.len() >= 8 {
        h ^= round(0, read_u64(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h ^= u64::from(read_u32(rest)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &byte in rest {
        h ^= u64::from(byte).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    avalanche(h)
}

fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[..8]);
    u64::from_le_bytes(word)
}

fn read_u32(b: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[..4]);
    u32::from_le_bytes(word)
}

/// A bijective 64-bit finaliser (the SplitMix64 output function). Used to derive the per
/// (shard, node) rendezvous hash from two precomputed keys without hashing bytes in the hot loop.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference vectors of the XXH64 specification. If one of these fails, the hash changed and
    /// every shard in every running cluster would move: fix the code, never the vector.
    #[test]
    fn xxh64_matches_reference_vectors() {
        let seed0: &[(&[u8], u64)] = &[
            (b"", 0xEF46_DB37_51D8_E999),
            (&[0u8], 0xE934_A84A_DB05_2768),
            (b"a", 0xD24E_C4F1_A98C_6E5B),
            (b"as", 0x1C33_0FB2_D66B_E179),
            (b"asd", 0x631C_37CE_72A9_7393),
            (b"abc", 0x44BC_2CF5_AD77_0999),
            (b"asdf", 0x4158_72F5_99CE_A71E),
            (b"Call me Ishmael.", 0x6D04_390F_C9D6_1A90),
            (
                b"Nobody inspects the spammish repetition",
                0xFBCE_A83C_8A37_8BF1,
            ),
            (
                b"Some years ago--never mind how long precisely-",
                0x8F26_F2B9_86AF_DC52,
            ),
        ];
        for &(input, want) in seed0 {
            assert_eq!(stable_hash(input), want, "input {input:?}");
        }
        assert_eq!(xxh64(b"", 1), 0xD5AF_BA13_36A3_BE4B);
    }

    /// Pins `shard_of` itself (not only the hash under it) for a few keys.
    #[test]
    fn shard_of_is_pinned() {
        assert_eq!(
            shard_of(b"", 1024),
            (0xEF46_DB37_51D8_E999u64 % 1024) as u32
        );
        assert_eq!(
            shard_of(b"abc", 1024),
            (0x44BC_2CF5_AD77_0999u64 % 1024) as u32
        );
        assert_eq!(shard_of(b"abc", 1), 0);
        assert_eq!(shard_of(b"abc", 0), 0);
    }

    #[test]
    fn shard_of_spreads_keys_evenly() {
        let n_shards = 64u32;
        let mut load = vec![0u32; n_shards as usize];
        for i in 0..64_000u32 {
            let key = format!("tenant-7/check-{i}");
            load[shard_of(key.as_bytes(), n_shards) as usize] += 1;
        }
        let max = *load.iter().max().unwrap_or(&0);
        let min = *load.iter().min().unwrap_or(&0);
        // Mean 1000, binomial sd ~31: a fair hash stays well within +-15%.
        assert!(max < 1150 && min > 850, "min {min} max {max}");
    }

    #[test]
    fn mix64_is_pinned() {
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161D_100B_05E5);
    }
}
