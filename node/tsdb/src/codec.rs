//! The raw chunk codec: one series' sorted `(timestamp ms, f64)` points to bytes and back.
//!
//! Timestamps: a constant interval costs two varints; otherwise delta-of-delta integers go
//! through `pco`. Values, first shortcut that is bit-exact wins: constant, constant delta,
//! short decimals as scaled integers (through `pco`), plain `f64` through `pco`, and raw bit
//! patterns through `pco` when NaNs are present (so NaN payloads, such as the Prometheus stale
//! marker, survive untouched). Pure: no IO, no clock.

use crate::bytes::{Reader, put_ivarint, put_u64, put_uvarint};
use crate::error::{Error, Result};
use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};

/// Most points one chunk may hold; a series with more is split over several chunks.
pub const CHUNK_POINTS_MAX: usize = 1 << 20;
/// Largest decimal exponent tried when storing values as scaled integers.
const DECIMAL_EXP_MAX: u32 = 9;
/// Scaled integers must stay exactly representable as f64.
const DECIMAL_INT_MAX: f64 = 9_007_199_254_740_992.0;

const TS_CONST: u8 = 0;
const TS_DOD: u8 = 1;
const V_CONST: u8 = 0;
const V_CONST_DELTA: u8 = 1;
const V_DECIMAL: u8 = 2;
const V_FLOAT: u8 = 3;
const V_BITS: u8 = 4;

/// Which value encoding a chunk used (exposed for tests and the README's claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMode {
    Constant,
    ConstantDelta,
    Decimal,
    Float,
    Bits,
}

/// Encodes points sorted by strictly increasing timestamp.
pub fn encode(points: &[(i64, f64)], out: &mut Vec<u8>) -> Result<()> {
    assert!(
        points.len() <= CHUNK_POINTS_MAX,
        "chunk above CHUNK_POINTS_MAX"
    );
    debug_assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "points not sorted"
    );
    put_uvarint(out, points.len() as u64);
    if points.is_empty() {
        return Ok(());
    }
    let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
    encode_timestamps(&ts, out)?;
    let vs: Vec<f64> = points.iter().map(|p| p.1).collect();
    encode_values(&vs, out)?;
    Ok(())
}

/// Decodes a chunk written by [`encode`].
pub fn decode(buf: &[u8]) -> Result<Vec<(i64, f64)>> {
    let mut r = Reader::new(buf, "raw chunk");
    let n = r.len(CHUNK_POINTS_MAX)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let ts = decode_timestamps(&mut r, n)?;
    let vs = decode_values(&mut r, n)?;
    Ok(ts.into_iter().zip(vs).collect())
}

/// The value mode [`encode`] picks for these values.
pub fn value_mode(values: &[f64]) -> ValueMode {
    if is_constant(values) {
        ValueMode::Constant
    } else if const_delta(values).is_some() {
        ValueMode::ConstantDelta
    } else if values.iter().any(|v| v.is_nan()) {
        ValueMode::Bits
    } else if decimal_exponent(values).is_some() {
        ValueMode::Decimal
    } else {
        ValueMode::Float
    }
}

fn pco_err(what: &str, e: pco::errors::PcoError) -> Error {
    Error::corrupt("raw chunk", format!("{what}: {e}"))
}

pub(crate) fn encode_timestamps(ts: &[i64], out: &mut Vec<u8>) -> Result<()> {
    put_ivarint(out, ts[0]);
    let delta = if ts.len() > 1 {
        ts[1].wrapping_sub(ts[0])
    } else {
        0
    };
    let constant = ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == delta);
    if constant {
        out.push(TS_CONST);
        put_ivarint(out, delta);
        return Ok(());
    }
    out.push(TS_DOD);
    put_ivarint(out, delta);
    let dods: Vec<i64> = ts
        .windows(3)
        .map(|w| {
            w[2].wrapping_sub(w[1])
                .wrapping_sub(w[1].wrapping_sub(w[0]))
        })
        .collect();
    let packed = simple_compress(&dods, &ChunkConfig::default()).map_err(|e| pco_err("ts", e))?;
    put_uvarint(out, packed.len() as u64);
    out.extend_from_slice(&packed);
    Ok(())
}

pub(crate) fn decode_timestamps(r: &mut Reader<'_>, n: usize) -> Result<Vec<i64>> {
    let first = r.ivarint()?;
    let tag = r.u8()?;
    let delta = r.ivarint()?;
    let mut ts = Vec::with_capacity(n);
    ts.push(first);
    match tag {
        TS_CONST => {
            for i in 1..n {
                ts.push(ts[i - 1].wrapping_add(delta));
            }
        }
        TS_DOD => {
            let packed = r.bytes()?;
            let dods: Vec<i64> = simple_decompress(packed).map_err(|e| pco_err("ts", e))?;
            if n < 2 || dods.len() != n - 2 {
                return Err(Error::corrupt("raw chunk", "timestamp count mismatch"));
            }
            ts.push(first.wrapping_add(delta));
            let mut d = delta;
            for dod in dods {
                d = d.wrapping_add(dod);
                let last = *ts.last().expect("non-empty");
                ts.push(last.wrapping_add(d));
            }
        }
        t => {
            return Err(Error::corrupt(
                "raw chunk",
                format!("unknown timestamp tag {t}"),
            ));
        }
    }
    Ok(ts)
}

fn is_constant(vs: &[f64]) -> bool {
    vs.iter().all(|v| v.to_bits() == vs[0].to_bits())
}

/// `Some(delta)` when every value is bit-exactly `first + i * delta`.
fn const_delta(vs: &[f64]) -> Option<f64> {
    if vs.len() < 3 {
        return None;
    }
    let delta = vs[1] - vs[0];
    let ok = vs
        .iter()
        .enumerate()
        .all(|(i, v)| (vs[0] + i as f64 * delta).to_bits() == v.to_bits());
    ok.then_some(delta)
}

fn pow10(e: u32) -> f64 {
    10f64.powi(e as i32)
}

fn scaled(v: f64, e: u32) -> Option<i64> {
    let s = (v * pow10(e)).round();
    if !s.is_finite() || s.abs() >= DECIMAL_INT_MAX {
        return None;
    }
    let i = s as i64;
    ((i as f64 / pow10(e)).to_bits() == v.to_bits()).then_some(i)
}

/// Smallest exponent at which every value is a bit-exact scaled integer.
fn decimal_exponent(vs: &[f64]) -> Option<u32> {
    let mut e = 0;
    for &v in vs {
        while scaled(v, e).is_none() {
            e += 1;
            if e > DECIMAL_EXP_MAX {
                return None;
            }
        }
    }
    vs.iter().all(|&v| scaled(v, e).is_some()).then_some(e)
}

pub(crate) fn encode_values(vs: &[f64], out: &mut Vec<u8>) -> Result<()> {
    let err = |e| pco_err("values", e);
    match value_mode(vs) {
        ValueMode::Constant => {
            out.push(V_CONST);
            put_u64(out, vs[0].to_bits());
        }
        ValueMode::ConstantDelta => {
            out.push(V_CONST_DELTA);
            put_u64(out, vs[0].to_bits());
            put_u64(out, const_delta(vs).expect("checked").to_bits());
        }
        ValueMode::Decimal => {
            let e = decimal_exponent(vs).expect("checked");
            let ints: Vec<i64> = vs.iter().map(|&v| scaled(v, e).expect("checked")).collect();
            out.push(V_DECIMAL);
            out.push(e as u8);
            put_packed(
                out,
                &simple_compress(&ints, &ChunkConfig::default()).map_err(err)?,
            );
        }
        ValueMode::Float => {
            out.push(V_FLOAT);
            put_packed(
                out,
                &simple_compress(vs, &ChunkConfig::default()).map_err(err)?,
            );
        }
        ValueMode::Bits => {
            let bits: Vec<u64> = vs.iter().map(|v| v.to_bits()).collect();
            out.push(V_BITS);
            put_packed(
                out,
                &simple_compress(&bits, &ChunkConfig::default()).map_err(err)?,
            );
        }
    }
    Ok(())
}

/// A column of integers: one varint when constant, else `pco`.
pub(crate) fn encode_ints(xs: &[i64], out: &mut Vec<u8>) -> Result<()> {
    let first = xs.first().copied().unwrap_or(0);
    if xs.iter().all(|x| *x == first) {
        out.push(0);
        put_ivarint(out, first);
    } else {
        out.push(1);
        put_packed(
            out,
            &simple_compress(xs, &ChunkConfig::default()).map_err(|e| pco_err("ints", e))?,
        );
    }
    Ok(())
}

/// Decodes `n` integers written by [`encode_ints`].
pub(crate) fn decode_ints(r: &mut Reader<'_>, n: usize) -> Result<Vec<i64>> {
    let xs = match r.u8()? {
        0 => vec![r.ivarint()?; n],
        1 => simple_decompress(r.bytes()?).map_err(|e| pco_err("ints", e))?,
        t => return Err(Error::corrupt("int column", format!("unknown tag {t}"))),
    };
    if xs.len() != n {
        return Err(Error::corrupt("int column", "count mismatch"));
    }
    Ok(xs)
}

fn put_packed(out: &mut Vec<u8>, packed: &[u8]) {
    put_uvarint(out, packed.len() as u64);
    out.extend_from_slice(packed);
}

pub(crate) fn decode_values(r: &mut Reader<'_>, n: usize) -> Result<Vec<f64>> {
    let err = |e| pco_err("values", e);
    let vs = match r.u8()? {
        V_CONST => vec![f64::from_bits(r.u64()?); n],
        V_CONST_DELTA => {
            let first = f64::from_bits(r.u64()?);
            let delta = f64::from_bits(r.u64()?);
            (0..n).map(|i| first + i as f64 * delta).collect()
        }
        V_DECIMAL => {
            let e = u32::from(r.u8()?);
            if e > DECIMAL_EXP_MAX {
                return Err(Error::corrupt("raw chunk", format!("decimal exponent {e}")));
            }
            let ints: Vec<i64> = simple_decompress(r.bytes()?).map_err(err)?;
            ints.into_iter().map(|i| i as f64 / pow10(e)).collect()
        }
        V_FLOAT => simple_decompress::<f64>(r.bytes()?).map_err(err)?,
        V_BITS => {
            let bits: Vec<u64> = simple_decompress(r.bytes()?).map_err(err)?;
            bits.into_iter().map(f64::from_bits).collect()
        }
        t => {
            return Err(Error::corrupt(
                "raw chunk",
                format!("unknown value tag {t}"),
            ));
        }
    };
    if vs.len() != n {
        return Err(Error::corrupt("raw chunk", "value count mismatch"));
    }
    Ok(vs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        encode(points, &mut out).unwrap();
        decode(&out).unwrap()
    }

    fn same_bits(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    fn special() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::from_bits(0x7ff0_0000_0000_0002)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(0.0),
            any::<u64>().prop_map(f64::from_bits),
            (-100_000i64..100_000).prop_map(|i| i as f64 / 100.0),
            any::<f64>(),
        ]
    }

    fn timestamps(n: usize) -> impl Strategy<Value = Vec<i64>> {
        (
            any::<i32>(),
            1i64..100_000,
            proptest::collection::vec(0i64..3, n),
        )
            .prop_map(|(start, step, jitter)| {
                let mut t = i64::from(start) * 1000;
                jitter
                    .into_iter()
                    .map(|j| {
                        t += step + j;
                        t
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn specials_round_trip_bit_exact(vs in proptest::collection::vec(special(), 0..300),
                                         ts in timestamps(300)) {
            let pts: Vec<(i64, f64)> = ts.into_iter().zip(vs).collect();
            prop_assert!(same_bits(&pts, &round_trip(&pts)));
        }

        #[test]
        fn random_walk_round_trips(steps in proptest::collection::vec(-1.0f64..1.0, 1..500),
                                   ts in timestamps(500)) {
            let mut v = 100.0;
            let pts: Vec<(i64, f64)> = ts.into_iter().zip(steps).map(|(t, s)| { v += s; (t, v) }).collect();
            prop_assert!(same_bits(&pts, &round_trip(&pts)));
        }

        #[test]
        fn short_decimals_use_scaled_integers(ints in proptest::collection::vec(-1_000_000i64..1_000_000, 3..400),
                                              scale in 0u32..4) {
            let vs: Vec<f64> = ints.iter().map(|&i| i as f64 / 10f64.powi(scale as i32)).collect();
            let pts: Vec<(i64, f64)> = vs.iter().enumerate().map(|(i, &v)| (i as i64 * 10_000, v)).collect();
            prop_assert!(same_bits(&pts, &round_trip(&pts)));
            let mode = value_mode(&vs);
            prop_assert!(matches!(mode, ValueMode::Decimal | ValueMode::Constant | ValueMode::ConstantDelta));
        }

        #[test]
        fn constants_round_trip(v in special(), n in 1usize..200) {
            let pts: Vec<(i64, f64)> = (0..n as i64).map(|i| (i * 60_000, v)).collect();
            prop_assert!(same_bits(&pts, &round_trip(&pts)));
            prop_assert_eq!(value_mode(&vec![v; n]), ValueMode::Constant);
        }
    }

    #[test]
    fn regular_constant_series_is_tiny() {
        let pts: Vec<(i64, f64)> = (0..8640)
            .map(|i| (1_700_000_000_000 + i * 10_000, 1.0))
            .collect();
        let mut out = Vec::new();
        encode(&pts, &mut out).unwrap();
        assert!(out.len() < 32, "{} bytes", out.len());
    }

    #[test]
    fn corrupt_chunk_is_an_error() {
        let pts: Vec<(i64, f64)> = (0..100).map(|i| (i * 7 + i * i, i as f64 * 0.37)).collect();
        let mut out = Vec::new();
        encode(&pts, &mut out).unwrap();
        for cut in 0..out.len() {
            let _ = decode(&out[..cut]);
        }
        assert!(decode(&out[..out.len() / 2]).is_err());
    }
}
