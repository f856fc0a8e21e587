//! Write-only secrets of tenant objects: where each kind and type keeps a credential, how it is
//! masked in every answer, and how an update that omits it or sends the mask keeps it.
//!
//! One form everywhere: a secret value is shown as `SECRET_MASK`; a password inside a URL
//! (`https://user:pass@host/`) is shown with the mask in its place. The stored value never
//! leaves the node through the API.

use reqwest::Url;
use serde_json::{Map, Value};

use crate::error::Error;
use meridian_raft::model::ObjectKind;

/// What an answer shows instead of a secret.
pub const SECRET_MASK: &str = "********";

/// Request headers of a `remote.http` check whose values are credentials (lowercase).
pub const CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
];

/// Where a secret lives in a body, as a path of object keys.
#[derive(Debug, Clone, Copy)]
enum Secret {
    /// The whole value is the secret. An update that omits it keeps the stored one.
    Value(&'static [&'static str]),
    /// The password of the URL at this path.
    UrlPassword(&'static [&'static str]),
    /// The values of the `CREDENTIAL_HEADERS` in the header map at this path.
    Headers(&'static [&'static str]),
}

/// The secrets of an object of `kind` whose body has `type` `ty`.
fn secrets(kind: ObjectKind, ty: &str) -> &'static [Secret] {
    use Secret::{Headers, UrlPassword, Value as Whole};
    match (kind, ty) {
        (ObjectKind::Notification, "webhook") => &[
            Whole(&["details", "secret"]),
            UrlPassword(&["details", "url"]),
        ],
        (ObjectKind::Notification, "pagerduty") => &[Whole(&["details", "routing_key"])],
        // A Slack incoming-webhook URL is itself the credential.
        (ObjectKind::Notification, "slack") => &[Whole(&["details", "url"])],
        (ObjectKind::Check, "remote.http") => &[
            Whole(&["details", "auth_password"]),
            UrlPassword(&["details", "url"]),
            Headers(&["details", "headers"]),
        ],
        _ => &[],
    }
}

fn body_type(body: &Map<String, Value>) -> &str {
    body.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn get<'a>(body: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut m = body;
    for p in parents {
        m = m.get(*p)?.as_object()?;
    }
    m.get(*last)
}

/// The object holding the last key of `path`, and that key.
fn parent_mut<'a, 'p>(
    body: &'a mut Map<String, Value>,
    path: &[&'p str],
) -> Option<(&'a mut Map<String, Value>, &'p str)> {
    let (last, parents) = path.split_last()?;
    let mut m = body;
    for p in parents {
        m = m.get_mut(*p)?.as_object_mut()?;
    }
    Some((m, *last))
}

fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// `url` with its password replaced by `password`; None when it has none or does not parse.
fn with_password(url: &str, password: &str) -> Option<String> {
    let mut u = Url::parse(url).ok()?;
    u.password()?;
    u.set_password(Some(password)).ok()?;
    Some(u.to_string())
}

/// Replaces every secret of a body about to be shown by the mask.
pub fn mask(kind: ObjectKind, body: &mut Map<String, Value>) {
    let ty = body_type(body).to_string();
    for s in secrets(kind, &ty) {
        match *s {
            Secret::Value(path) => {
                if let Some((m, k)) = parent_mut(body, path)
                    && m.get(k).is_some_and(|v| !v.is_null())
                {
                    m.insert(k.to_string(), Value::from(SECRET_MASK));
                }
            }
            Secret::UrlPassword(path) => {
                if let Some((m, k)) = parent_mut(body, path)
                    && let Some(url) = m.get(k).and_then(Value::as_str)
                    && let Some(masked) = with_password(url, SECRET_MASK)
                {
                    m.insert(k.to_string(), Value::String(masked));
                }
            }
            Secret::Headers(path) => {
                if let Some(Value::Object(h)) =
                    parent_mut(body, path).and_then(|(m, k)| m.get_mut(k))
                {
                    for (name, v) in h.iter_mut() {
                        if is_credential_header(name) {
                            *v = Value::from(SECRET_MASK);
                        }
                    }
                }
            }
        }
    }
}

/// For an update: puts the stored secret back wherever the merged body sends the mask or
/// omits a whole-value secret, as long as the object keeps its type. An explicit `null`
/// removes a secret.
pub fn keep_stored(kind: ObjectKind, stored: &Value, merged: &mut Map<String, Value>) {
    let Some(stored) = stored.as_object() else {
        return;
    };
    let ty = body_type(stored).to_string();
    if body_type(merged) != ty {
        return;
    }
    for s in secrets(kind, &ty) {
        match *s {
            Secret::Value(path) => {
                let Some(old) = get(stored, path) else {
                    continue;
                };
                if let Some((m, k)) = parent_mut(merged, path)
                    && m.get(k).is_none_or(|v| v == SECRET_MASK)
                {
                    m.insert(k.to_string(), old.clone());
                }
            }
            Secret::UrlPassword(path) => {
                let old = get(stored, path)
                    .and_then(Value::as_str)
                    .and_then(|u| Url::parse(u).ok()?.password().map(str::to_string));
                if let (Some(old), Some((m, k))) = (old, parent_mut(merged, path))
                    && let Some(url) = m.get(k).and_then(Value::as_str)
                    && Url::parse(url).is_ok_and(|u| u.password() == Some(SECRET_MASK))
                    && let Some(restored) = with_password(url, &old)
                {
                    m.insert(k.to_string(), Value::String(restored));
                }
            }
            Secret::Headers(path) => {
                let Some(Value::Object(old)) = get(stored, path) else {
                    continue;
                };
                if let Some(Value::Object(h)) =
                    parent_mut(merged, path).and_then(|(m, k)| m.get_mut(k))
                {
                    for (name, v) in h.iter_mut() {
                        let was = old.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
                        if is_credential_header(name)
                            && *v == SECRET_MASK
                            && let Some((_, was)) = was
                        {
                            *v = was.clone();
                        }
                    }
                }
            }
        }
    }
}

/// Refuses a body that still holds the mask where a secret goes: it stands for a stored
/// secret, and there is none to keep (a create, or a type change).
pub fn refuse_mask(kind: ObjectKind, body: &Map<String, Value>) -> Result<(), Error> {
    let refused = |field: String| {
        Err(Error::BadRequest(format!(
            "{field}: {SECRET_MASK:?} stands for a stored secret and there is none to keep; \
             send the value"
        )))
    };
    for s in secrets(kind, body_type(body)) {
        match *s {
            Secret::Value(path) => {
                if get(body, path).is_some_and(|v| v == SECRET_MASK) {
                    return refused(path.join("."));
                }
            }
            Secret::UrlPassword(path) => {
                let url = get(body, path)
                    .and_then(Value::as_str)
                    .and_then(|u| Url::parse(u).ok());
                if url.is_some_and(|u| u.password() == Some(SECRET_MASK)) {
                    return refused(path.join("."));
                }
            }
            Secret::Headers(path) => {
                if let Some(Value::Object(h)) = get(body, path)
                    && let Some((name, _)) = h
                        .iter()
                        .find(|(n, v)| is_credential_header(n) && *v == SECRET_MASK)
                {
                    return refused(format!("{}.{name}", path.join(".")));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn webhook() -> Value {
        json!({"type": "webhook", "details": {
            "url": "https://bob:hunter2@hooks.example.com/x", "secret": "s".repeat(20)}})
    }

    fn http_check() -> Value {
        json!({"type": "remote.http", "details": {"url": "https://example.com/",
            "headers": {"Authorization": "Bearer abc", "Accept": "text/plain"},
            "auth_password": "pw"}})
    }

    #[test]
    fn every_secret_is_masked_and_nothing_else() {
        let cases = [
            (ObjectKind::Notification, webhook()),
            (ObjectKind::Check, http_check()),
            (
                ObjectKind::Notification,
                json!({"type": "pagerduty", "details": {"routing_key": "k".repeat(32)}}),
            ),
            (
                ObjectKind::Notification,
                json!({"type": "slack",
                    "details": {"url": "https://hooks.slack.com/services/T/B/x"}}),
            ),
        ];
        for (kind, body) in cases {
            let mut shown = obj(body.clone());
            mask(kind, &mut shown);
            let text = Value::Object(shown.clone()).to_string();
            for secret in [
                "hunter2",
                "ssss",
                "Bearer abc",
                "\"pw\"",
                "kkkk",
                "services/T",
            ] {
                assert!(!text.contains(secret), "{secret} shown in {text}");
            }
            assert!(text.contains(SECRET_MASK), "{text}");
            assert_eq!(shown["type"], body["type"]);
        }
        let mut w = obj(webhook());
        mask(ObjectKind::Notification, &mut w);
        assert_eq!(
            w["details"]["url"],
            "https://bob:********@hooks.example.com/x"
        );
        let mut c = obj(http_check());
        mask(ObjectKind::Check, &mut c);
        assert_eq!(c["details"]["headers"]["Accept"], "text/plain");
        assert_eq!(c["details"]["url"], "https://example.com/");
        // An email notification has no secret; an entity neither.
        let email = json!({"type": "email", "details": {"address": "a@b.io"}});
        let mut e = obj(email.clone());
        mask(ObjectKind::Notification, &mut e);
        assert_eq!(Value::Object(e), email);
    }

    #[test]
    fn an_update_sending_the_mask_or_omitting_a_secret_keeps_it() {
        let stored = webhook();
        let mut shown = obj(stored.clone());
        mask(ObjectKind::Notification, &mut shown);
        // The shown object sent back as it is: every secret is restored.
        keep_stored(ObjectKind::Notification, &stored, &mut shown);
        assert_eq!(Value::Object(shown), stored);
        // Details sent without the secret keep it too.
        let mut sent =
            obj(json!({"type": "webhook", "details": {"url": "https://h.example.com/"}}));
        keep_stored(ObjectKind::Notification, &stored, &mut sent);
        assert_eq!(sent["details"]["secret"], stored["details"]["secret"]);
        // A new value replaces it; null removes it.
        let mut sent = obj(
            json!({"type": "webhook", "details": {"url": "https://h.example.com/",
            "secret": "n".repeat(20)}}),
        );
        keep_stored(ObjectKind::Notification, &stored, &mut sent);
        assert_eq!(sent["details"]["secret"], "n".repeat(20));
        let mut sent = obj(
            json!({"type": "webhook", "details": {"url": "https://h.example.com/",
            "secret": null}}),
        );
        keep_stored(ObjectKind::Notification, &stored, &mut sent);
        assert!(sent["details"]["secret"].is_null());
        // Headers: the masked credential comes back, under any case of its name.
        let stored = http_check();
        let mut sent = obj(
            json!({"type": "remote.http", "details": {"url": "https://example.com/",
            "headers": {"authorization": SECRET_MASK}}}),
        );
        keep_stored(ObjectKind::Check, &stored, &mut sent);
        assert_eq!(sent["details"]["headers"]["authorization"], "Bearer abc");
        assert_eq!(sent["details"]["auth_password"], "pw");
    }

    #[test]
    fn a_type_change_keeps_nothing_and_a_mask_with_nothing_to_keep_is_refused() {
        let stored = webhook();
        let mut sent = obj(json!({"type": "slack", "details": {"url": SECRET_MASK}}));
        keep_stored(ObjectKind::Notification, &stored, &mut sent);
        assert_eq!(sent["details"]["url"], SECRET_MASK);
        let e = refuse_mask(ObjectKind::Notification, &sent).expect_err("mask");
        assert!(e.to_string().starts_with("details.url:"), "{e}");
        let header = obj(
            json!({"type": "remote.http", "details": {"url": "https://x.io/",
            "headers": {"X-Api-Key": SECRET_MASK}}}),
        );
        let e = refuse_mask(ObjectKind::Check, &header).expect_err("mask");
        assert!(
            e.to_string().starts_with("details.headers.X-Api-Key:"),
            "{e}"
        );
        let url = obj(json!({"type": "webhook", "details": {
            "url": "https://u:********@x.io/"}}));
        assert!(refuse_mask(ObjectKind::Notification, &url).is_err());
        assert!(refuse_mask(ObjectKind::Notification, &obj(webhook())).is_ok());
    }
}
