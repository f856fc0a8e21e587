//! The series index: listing, filters, paging, "active since", and dropping a tenant.

use crate::fixture::*;
use meridian_tsdb::{DAY_MS, SeriesFilter, SeriesKey};

fn names(keys: &[SeriesKey]) -> Vec<String> {
    keys.iter()
        .map(|k| format!("{}/{}/{:?}", k.namespace, k.name, k.dimensions))
        .collect()
}

#[test]
fn list_filter_page_and_active_since() {
    let mut t = TestEngine::new();
    let t0 = BASE_DAY * DAY_MS;
    for zone in ["eu", "us", "ap"] {
        for name in ["rtt", "latency"] {
            let k = SeriesKey::new("acme", "check", name).with("zone", zone);
            write(t.e(), &k, &[(t0, 1.0)]);
        }
    }
    let old = SeriesKey::new("acme", "prometheus", "up");
    write(t.e(), &old, &[(t0 - 20 * DAY_MS, 1.0)]);
    write(
        t.e(),
        &SeriesKey::new("other", "check", "rtt"),
        &[(t0, 1.0)],
    );
    t.e().flush().unwrap();
    t.reopen(true, |_| {});
    let e = t.e();
    let all = e
        .series("acme", &SeriesFilter::default(), 100, None)
        .unwrap();
    assert_eq!(all.len(), 7);
    let f = SeriesFilter {
        namespace: Some("check".into()),
        ..Default::default()
    };
    assert_eq!(e.series("acme", &f, 100, None).unwrap().len(), 6);
    let mut f = SeriesFilter {
        namespace: Some("check".into()),
        name: Some("rtt".into()),
        ..Default::default()
    };
    f.dimensions.insert("zone".into(), "us".into());
    let one = e.series("acme", &f, 100, None).unwrap();
    assert_eq!(names(&one), vec!["check/rtt/{\"zone\": \"us\"}"]);
    // Paging: pages of 2 concatenate to the whole listing.
    let mut paged = Vec::new();
    let mut after: Option<SeriesKey> = None;
    loop {
        let page = e
            .series("acme", &SeriesFilter::default(), 2, after.as_ref())
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, all);
    let recent = SeriesFilter {
        active_since_ms: Some(t0 - 14 * DAY_MS),
        ..Default::default()
    };
    assert_eq!(e.series("acme", &recent, 100, None).unwrap().len(), 6);
    assert!(
        e.series("nobody", &SeriesFilter::default(), 10, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn dropping_a_tenant_removes_its_series_and_data_for_good() {
    let mut t = TestEngine::new();
    let t0 = BASE_DAY * DAY_MS;
    let gone = SeriesKey::new("gone", "check", "rtt");
    let kept = SeriesKey::new("kept", "check", "rtt");
    for i in 0..3 {
        write(t.e(), &gone, &[(t0 + i, 1.0)]);
        write(t.e(), &kept, &[(t0 + i, 2.0)]);
        t.e().flush().unwrap();
    }
    write(t.e(), &gone, &[(t0 + 10, 1.0)]);
    assert!(t.e().drop_tenant("gone").unwrap());
    assert!(!t.e().drop_tenant("never").unwrap());
    assert!(t.e().raw(&gone, t0, t0 + 100, 100).unwrap().is_empty());
    assert!(
        t.e()
            .series("gone", &SeriesFilter::default(), 10, None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(t.e().raw(&kept, t0, t0 + 100, 100).unwrap().len(), 3);
    // A new tenant of the same name starts empty, and old data never comes back.
    write(t.e(), &gone, &[(t0 + 50, 9.0)]);
    t.reopen(false, |_| {});
    assert_eq!(
        t.e().raw(&gone, t0, t0 + 100, 100).unwrap(),
        vec![(t0 + 50, 9.0)]
    );
    t.e().flush().unwrap();
    t.reopen(true, |_| {});
    assert_eq!(
        t.e().raw(&gone, t0, t0 + 100, 100).unwrap(),
        vec![(t0 + 50, 9.0)]
    );
    assert_eq!(t.e().raw(&kept, t0, t0 + 100, 100).unwrap().len(), 3);
    // The index lists only the series written after the drop.
    let listed = t
        .e()
        .series("gone", &SeriesFilter::default(), 10, None)
        .unwrap();
    assert_eq!(listed, vec![gone.clone()]);
    t.set_now((BASE_DAY + 1) * DAY_MS + 2 * 3_600_000);
    t.e().maintain().unwrap();
    assert_eq!(
        t.e().raw(&gone, t0, t0 + 100, 100).unwrap(),
        vec![(t0 + 50, 9.0)]
    );
}
