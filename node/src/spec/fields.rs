//! Field validators shared by the resources. Every error message starts with the field's name.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;

/// Longest label, in chars.
pub const LABEL_MAX: usize = 255;
/// Most metadata entries on one object.
pub const METADATA_ENTRIES_MAX: usize = 100;
/// Longest metadata key, in bytes.
pub const METADATA_KEY_MAX: usize = 255;
/// Longest metadata value, in bytes.
pub const METADATA_VALUE_MAX: usize = 1024;
/// Longest host name (RFC 1035), in bytes.
pub const HOSTNAME_MAX: usize = 253;
/// Longest URL, in bytes.
pub const URL_MAX: usize = 2048;
/// Longest regular expression, in bytes.
pub const PATTERN_MAX: usize = 255;
/// Compiled size limit of a regular expression, in bytes.
pub const PATTERN_COMPILED_MAX: usize = 1 << 20;

pub fn bad(message: String) -> Error {
    Error::BadRequest(message)
}

/// Deserializes `v` into `T`; a shape error names the field, under `prefix` when given.
pub fn typed<T: DeserializeOwned>(prefix: &str, v: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path == ".") {
            (true, true) => "body".to_string(),
            (true, false) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        bad(format!("{field}: {}", e.into_inner()))
    })
}

/// Deserializes a stored or merged body.
pub fn typed_body<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, Error> {
    typed("", Value::Object(body))
}

/// A required label: trimmed, 1 to `LABEL_MAX` chars, plain text.
pub fn label(v: Option<&str>) -> Result<String, Error> {
    let Some(l) = v else {
        return Err(bad("label: is required".into()));
    };
    let l = l.trim();
    if l.is_empty() || l.chars().count() > LABEL_MAX {
        return Err(bad(format!("label: must be 1 to {LABEL_MAX} characters")));
    }
    plain_text("label", l)?;
    Ok(l.to_string())
}

/// Whether `c` reorders the text shown around it (Unicode bidirectional formatting).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Refuses control characters (newlines, escapes) and bidirectional controls in a name
/// people read: they could forge log lines or show text other than what is stored.
pub fn plain_text(field: &str, s: &str) -> Result<(), Error> {
    match s.chars().find(|c| c.is_control() || is_bidi_control(*c)) {
        Some(c) => Err(bad(format!(
            "{field}: must not contain control or bidirectional characters (found U+{:04X})",
            c as u32
        ))),
        None => Ok(()),
    }
}

pub fn metadata(md: &BTreeMap<String, String>) -> Result<(), Error> {
    if md.len() > METADATA_ENTRIES_MAX {
        return Err(bad(format!(
            "metadata: at most {METADATA_ENTRIES_MAX} entries"
        )));
    }
    for (k, v) in md {
        if k.is_empty() || k.len() > METADATA_KEY_MAX {
            return Err(bad(format!(
                "metadata: keys must be 1 to {METADATA_KEY_MAX} bytes"
            )));
        }
        if v.len() > METADATA_VALUE_MAX {
            return Err(bad(format!(
                "metadata.{k}: values must be at most {METADATA_VALUE_MAX} bytes"
            )));
        }
    }
    Ok(())
}

/// A DNS host name (letters, digits, `-`, `_` in labels of 1 to 63) or an IP address.
pub fn hostname(field: &str, s: &str) -> Result<(), Error> {
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > HOSTNAME_MAX || !name.split('.').all(label_ok) {
        return Err(bad(format!(
            "{field}: {s:?} is not a host name or IP address"
        )));
    }
    Ok(())
}

/// An absolute `http`/`https` URL with a host (`https` only when `https_only`).
pub fn http_url(field: &str, s: &str, https_only: bool) -> Result<(), Error> {
    if s.len() > URL_MAX {
        return Err(bad(format!("{field}: longer than {URL_MAX} bytes")));
    }
    let url =
        reqwest::Url::parse(s).map_err(|e| bad(format!("{field}: {s:?} is not a URL ({e})")))?;
    let schemes: &[&str] = if https_only {
        &["https"]
    } else {
        &["http", "https"]
    };
    if !schemes.contains(&url.scheme()) {
        return Err(bad(format!(
            "{field}: scheme must be {}",
            schemes.join(" or ")
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{field}: {s:?} has no host")));
    }
    Ok(())
}

/// A regular expression that compiles within the size limits.
pub fn pattern(field: &str, s: &str) -> Result<(), Error> {
    if s.len() > PATTERN_MAX {
        return Err(bad(format!("{field}: longer than {PATTERN_MAX} bytes")));
    }
    regex::RegexBuilder::new(s)
        .size_limit(PATTERN_COMPILED_MAX)
        .build()
        .map(|_| ())
        .map_err(|e| {
            bad(format!(
                "{field}: does not compile: {}",
                e.to_string().lines().last().unwrap_or("")
            ))
        })
}

/// A list of object ids of one kind: at most `max`, no repeats.
pub fn id_list(field: &str, ids: &[String], max: usize) -> Result<(), Error> {
    if ids.len() > max {
        return Err(bad(format!("{field}: at most {max} entries")));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(bad(format!("{field}: {id} is listed twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_refuse_control_and_bidirectional_characters() {
        assert_eq!(label(Some(" web 1 — ok ")).expect("ok"), "web 1 — ok");
        for bad in [
            "a\nb",
            "a\u{1b}[31mb",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{200F}b",
            "a\u{7f}b",
        ] {
            let e = label(Some(bad)).expect_err(bad);
            assert!(e.to_string().starts_with("label: must not contain"), "{e}");
        }
    }

    #[test]
    fn host_names_and_addresses() {
        for ok in [
            "example.com",
            "a.b-c.d",
            "10.0.0.1",
            "::1",
            "localhost",
            "x.example.com.",
        ] {
            assert!(hostname("h", ok).is_ok(), "{ok}");
        }
        let long = format!("{}.com", "a".repeat(64));
        for bad in ["", "-a.com", "a..b", "exa mple.com", "a/b", long.as_str()] {
            let e = hostname("target_hostname", bad).expect_err(bad);
            assert!(e.to_string().starts_with("target_hostname:"), "{e}");
        }
    }

    #[test]
    fn urls_and_patterns() {
        assert!(http_url("url", "http://example.com/x", false).is_ok());
        assert!(http_url("url", "http://example.com/x", true).is_err());
        assert!(http_url("url", "ftp://example.com", false).is_err());
        assert!(http_url("url", "example.com", false).is_err());
        assert!(pattern("body", "ok|fine").is_ok());
        assert!(
            pattern("body", "(unclosed")
                .expect_err("bad")
                .to_string()
                .starts_with("body:")
        );
    }

    #[test]
    fn typed_errors_name_the_nested_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct D {
            port: u16,
        }
        let e = typed::<D>("details", serde_json::json!({"port": "x"})).expect_err("bad");
        assert!(e.to_string().starts_with("details.port:"), "{e}");
        let e = typed::<D>("details", serde_json::json!({"port": 1, "x": 1})).expect_err("bad");
        assert!(e.to_string().contains("`x`"), "{e}");
        assert!(id_list("critical_state", &["a".into(), "a".into()], 5).is_err());
    }
}
