//! Prometheus remote_write 1.0: the snappy block format around a protobuf `WriteRequest`,
//! decoded into series of namespace `prometheus` (`__name__` is the name, other labels are
//! dimensions). Pure: bytes in, series out.

use std::collections::BTreeMap;

use meridian_tsdb::{SeriesKey, SeriesPoints};

/// Largest decompressed body accepted (the compressed body is bounded by the HTTP limit).
pub const DECODED_BYTES_MAX: usize = 32 << 20;
/// The namespace remote_write samples are stored under.
pub const NAMESPACE: &str = "prometheus";

/// `prometheus.WriteRequest` (only the fields 1.0 senders fill that we store).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a value and a timestamp in ms.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Why a body was refused (the sender must not retry it: HTTP 400).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("body: not snappy block format: {0}")]
    Snappy(String),
    #[error("body: decompressed size {0} exceeds DECODED_BYTES_MAX ({DECODED_BYTES_MAX})")]
    TooLarge(usize),
    #[error("body: not a protobuf WriteRequest: {0}")]
    Protobuf(String),
    #[error("timeseries[{0}].labels: no __name__ label")]
    NoName(usize),
}

/// Decodes a remote_write body into series of `tenant`; samples keep their values bit for bit
/// (stale markers included).
pub fn decode(tenant: &str, body: &[u8]) -> Result<Vec<SeriesPoints>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > DECODED_BYTES_MAX {
        return Err(DecodeError::TooLarge(len));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    let req = <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    req.timeseries
        .into_iter()
        .enumerate()
        .map(|(i, ts)| {
            let mut name = None;
            let mut dimensions = BTreeMap::new();
            for l in ts.labels {
                if l.name == "__name__" {
                    name = Some(l.value);
                } else {
                    dimensions.insert(l.name, l.value);
                }
            }
            let key = SeriesKey {
                tenant: tenant.to_string(),
                namespace: NAMESPACE.to_string(),
                name: name.ok_or(DecodeError::NoName(i))?,
                dimensions,
            };
            let points = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
            Ok(SeriesPoints { key, points })
        })
        .collect()
}

/// Encodes series as a remote_write body (for tests and the benchmark client).
pub fn encode(series: &[SeriesPoints]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|s| {
                let mut labels = vec![Label {
                    name: "__name__".into(),
                    value: s.key.name.clone(),
                }];
                labels.extend(s.key.dimensions.iter().map(|(k, v)| Label {
                    name: k.clone(),
                    value: v.clone(),
                }));
                TimeSeries {
                    labels,
                    samples: s
                        .points
                        .iter()
                        .map(|(t, v)| Sample {
                            value: *v,
                            timestamp: *t,
                        })
                        .collect(),
                }
            })
            .collect(),
    };
    let raw = prost::Message::encode_to_vec(&req);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: u64 = 0x7ff0_0000_0000_0002;

    #[test]
    fn a_body_round_trips_with_stale_markers_bit_exact() {
        let key = SeriesKey::new("t1", NAMESPACE, "up").with("job", "node");
        let series = vec![SeriesPoints {
            key,
            points: vec![(1_000, 1.0), (2_000, f64::from_bits(STALE))],
        }];
        let back = decode("t1", &encode(&series)).unwrap();
        assert_eq!(back[0].key, series[0].key);
        assert_eq!(back[0].points[1].1.to_bits(), STALE);
    }

    #[test]
    fn malformed_bodies_are_refused_with_the_reason() {
        assert!(matches!(
            decode("t", b"\xff\xff\xff\xff\xff"),
            Err(DecodeError::Snappy(_))
        ));
        let not_proto = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff")
            .unwrap();
        assert!(matches!(
            decode("t", &not_proto),
            Err(DecodeError::Protobuf(_))
        ));
        let nameless = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "job".into(),
                    value: "x".into(),
                }],
                samples: vec![],
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&nameless))
            .unwrap();
        assert_eq!(decode("t", &body), Err(DecodeError::NoName(0)));
    }

    #[test]
    fn a_body_that_claims_more_than_the_bound_is_refused_before_decompressing() {
        // The snappy header is the decompressed length as a varint.
        let mut body = Vec::new();
        let mut n = (DECODED_BYTES_MAX + 1) as u64;
        while n >= 0x80 {
            body.push((n as u8) | 0x80);
            n >>= 7;
        }
        body.push(n as u8);
        assert_eq!(
            decode("t", &body),
            Err(DecodeError::TooLarge(DECODED_BYTES_MAX + 1))
        );
    }
}
