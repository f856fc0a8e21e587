//! The newest observation of each check this node polls, served to the results API of any node.

use std::collections::HashMap;
use std::sync::Mutex;

use super::observation::Observation;

/// Most checks whose newest observation one node keeps (far above what one node polls).
pub const LATEST_MAX: usize = 1_000_000;

/// Newest observation per (tenant, check) for this node's zone.
#[derive(Default)]
pub struct LatestStore {
    map: Mutex<HashMap<(String, String), Observation>>,
}

impl LatestStore {
    /// Keeps `o` if it is newer than what is kept for its check. At `LATEST_MAX` checks a new
    /// check's observation is not kept (counted by the caller as dropped).
    pub fn put(&self, o: &Observation) -> bool {
        let mut map = self.map.lock().expect("latest store lock");
        let key = (o.tenant_id.clone(), o.check_id.clone());
        if let Some(old) = map.get_mut(&key) {
            if old.timestamp <= o.timestamp {
                *old = o.clone();
            }
            return true;
        }
        if map.len() >= LATEST_MAX {
            return false;
        }
        map.insert(key, o.clone());
        true
    }

    /// The newest observations of `checks` of `tenant` that this node holds.
    pub fn get(&self, tenant: &str, checks: &[String]) -> Vec<Observation> {
        let map = self.map.lock().expect("latest store lock");
        checks
            .iter()
            .filter_map(|c| map.get(&(tenant.to_string(), c.clone())).cloned())
            .collect()
    }

    /// Forgets checks this node no longer polls.
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut map = self.map.lock().expect("latest store lock");
        map.retain(|(t, c), _| keep(t, c));
    }

    pub fn len(&self) -> usize {
        self.map.lock().expect("latest store lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(check: &str, ts: i64) -> Observation {
        Observation {
            check_id: check.into(),
            entity_id: "en".into(),
            tenant_id: "t".into(),
            monitoring_zone_id: "r1".into(),
            node_id: 1,
            timestamp: ts,
            available: true,
            status: String::new(),
            metrics: Default::default(),
        }
    }

    #[test]
    fn keeps_the_newest_and_forgets_what_is_no_longer_polled() {
        let s = LatestStore::default();
        assert!(s.put(&obs("a", 10)));
        assert!(s.put(&obs("a", 5)));
        assert!(s.put(&obs("b", 7)));
        let got = s.get("t", &["a".into(), "b".into(), "c".into()]);
        assert_eq!(got.iter().map(|o| o.timestamp).collect::<Vec<_>>(), [10, 7]);
        assert!(
            s.get("other", &["a".into()]).is_empty(),
            "tenants are apart"
        );
        s.retain(|_, c| c == "b");
        assert_eq!(s.len(), 1);
    }
}
