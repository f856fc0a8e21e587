//! Series identity: keys, filters, point batches, and their validation.

use crate::bytes::{Reader, put_bytes, put_uvarint};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Most dimensions per series (spec/metrics.md).
pub const DIMENSIONS_MAX: usize = 30;
/// Largest timestamp magnitude accepted (2^53 ms, about 285,000 years either side of 1970),
/// so that day and bucket arithmetic can never overflow.
pub const TIMESTAMP_ABS_MAX: i64 = 1 << 53;
/// Longest name or value of a tenant, namespace, metric name or dimension, in bytes.
pub const NAME_BYTES_MAX: usize = 255;

/// A series: tenant + namespace + name + dimensions (kept sorted by the map).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub tenant: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

/// Points for one series, in any order; `(timestamp ms, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    pub key: SeriesKey,
    pub points: Vec<(i64, f64)>,
}

/// Which series of a tenant a listing returns; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Every listed dimension must be present with exactly this value.
    pub dimensions: BTreeMap<String, String>,
    /// Only series with a point at or after this time (ms), e.g. now minus 14 days.
    pub active_since_ms: Option<i64>,
}

fn check_name(field: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > NAME_BYTES_MAX {
        return Err(Error::invalid(
            field,
            format!("length {} not in 1..={NAME_BYTES_MAX}", s.len()),
        ));
    }
    if s.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL byte"));
    }
    Ok(())
}

impl SeriesKey {
    /// A key without dimensions.
    pub fn new(tenant: &str, namespace: &str, name: &str) -> Self {
        SeriesKey {
            tenant: tenant.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: BTreeMap::new(),
        }
    }

    /// Adds a dimension (builder style).
    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.dimensions.insert(k.to_owned(), v.to_owned());
        self
    }

    /// Checks lengths and counts; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        check_name("tenant", &self.tenant)?;
        check_name("namespace", &self.namespace)?;
        check_name("name", &self.name)?;
        if self.dimensions.len() > DIMENSIONS_MAX {
            return Err(Error::invalid(
                "dimensions",
                format!(
                    "{} dimensions, at most {DIMENSIONS_MAX}",
                    self.dimensions.len()
                ),
            ));
        }
        for (k, v) in &self.dimensions {
            check_name("dimension name", k)?;
            check_name("dimension value", v)?;
        }
        Ok(())
    }

    /// The key within its tenant, in a byte order that sorts by namespace, name, dimensions.
    pub(crate) fn local_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(self.namespace.as_bytes());
        out.push(0);
        out.extend_from_slice(self.name.as_bytes());
        out.push(0);
        for (k, v) in &self.dimensions {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }

    pub(crate) fn from_local_bytes(tenant: &str, b: &[u8]) -> Result<SeriesKey> {
        let text = std::str::from_utf8(b).map_err(|_| Error::corrupt("series index", "utf-8"))?;
        let mut parts = text.split('\0');
        let mut next = || {
            parts
                .next()
                .ok_or_else(|| Error::corrupt("series index", "short key"))
        };
        let mut key = SeriesKey::new(tenant, next()?, next()?);
        loop {
            let k = next()?;
            if k.is_empty() {
                break;
            }
            key.dimensions.insert(k.to_owned(), next()?.to_owned());
        }
        Ok(key)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.tenant.as_bytes());
        put_bytes(out, self.namespace.as_bytes());
        put_bytes(out, self.name.as_bytes());
        put_uvarint(out, self.dimensions.len() as u64);
        for (k, v) in &self.dimensions {
            put_bytes(out, k.as_bytes());
            put_bytes(out, v.as_bytes());
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<SeriesKey> {
        let mut key = SeriesKey::new(&r.string()?, &r.string()?, &r.string()?);
        let n = r.len(DIMENSIONS_MAX)?;
        for _ in 0..n {
            let k = r.string()?;
            key.dimensions.insert(k, r.string()?);
        }
        Ok(key)
    }
}

impl SeriesPoints {
    /// An upper bound of this entry's size in a WAL record, in bytes.
    pub(crate) fn wal_bytes_max(&self) -> usize {
        let k = &self.key;
        let strings = [&k.tenant, &k.namespace, &k.name]
            .iter()
            .map(|s| s.len() + 10)
            .sum::<usize>()
            + k.dimensions
                .iter()
                .map(|(a, b)| a.len() + b.len() + 20)
                .sum::<usize>();
        8 + strings + 20 + self.points.len() * 18
    }

    /// Checks the key and every timestamp; the error names the field.
    pub fn validate(&self) -> Result<()> {
        self.key.validate()?;
        if let Some(p) = self.points.iter().find(|p| p.0.abs() > TIMESTAMP_ABS_MAX) {
            return Err(Error::invalid(
                "timestamp",
                format!("{} outside ±{TIMESTAMP_ABS_MAX} ms", p.0),
            ));
        }
        Ok(())
    }
}

impl SeriesFilter {
    /// Whether a key (of the right tenant) passes the namespace, name and dimension tests.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == key.namespace)
            && self.name.as_ref().is_none_or(|n| *n == key.name)
            && self
                .dimensions
                .iter()
                .all(|(k, v)| key.dimensions.get(k) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_validate() {
        let k = SeriesKey::new("t", "check", "latency")
            .with("zone", "eu")
            .with("check", "c1");
        let back = SeriesKey::from_local_bytes("t", &k.local_bytes()).unwrap();
        assert_eq!(back, k);
        let mut out = Vec::new();
        k.encode(&mut out);
        assert_eq!(SeriesKey::decode(&mut Reader::new(&out, "t")).unwrap(), k);
        let err = SeriesKey::new("t", "", "x").validate().unwrap_err();
        assert!(err.to_string().contains("namespace"), "{err}");
        let mut many = SeriesKey::new("t", "n", "x");
        for i in 0..=DIMENSIONS_MAX {
            many.dimensions.insert(format!("d{i}"), "v".into());
        }
        assert!(
            many.validate()
                .unwrap_err()
                .to_string()
                .contains("dimensions")
        );
        assert!(
            SeriesKey::new("t", "n", &"x".repeat(256))
                .validate()
                .is_err()
        );
    }
}
