//! Who owns a series: the first series replica of its shard in the placement of the committed
//! members *all taken as up*. Ownership must not move when a node is marked down: with one copy
//! per series, moving it would split a series' points between two nodes, and the points taken
//! by the stand-in would vanish from reads when the owner returns. So while an owner is down,
//! writes and reads of its series fail (503 / partial) instead.

use std::sync::{Arc, Mutex};

use meridian_placement::{Assignment, Member, PlacementConfig, assign};

use crate::placement_view::PlacementView;

/// The liveness-blind assignment, recomputed when the members (or their liveness) change.
#[derive(Default)]
pub struct Owners {
    cache: Mutex<Option<Arc<Assignment>>>,
}

impl Owners {
    /// The assignment of the committed members with every member taken as up.
    pub fn assignment(&self, view: &PlacementView) -> Arc<Assignment> {
        let live = view.assignment();
        let mut cache = self.cache.lock().expect("owners cache lock");
        if let Some(a) = cache.as_ref()
            && a.epoch == live.epoch
            && a.n_shards == live.n_shards
        {
            return a.clone();
        }
        let members: Vec<Member> = view.state().read(|s| {
            s.members()
                .map(|m| Member {
                    id: m.id,
                    region: m.region.clone(),
                    up: true,
                    weight: m.weight,
                })
                .collect()
        });
        let cfg = PlacementConfig {
            n_shards: live.n_shards,
            replication_factor: None,
        };
        let a = Arc::new(assign(&members, &cfg, live.epoch));
        *cache = Some(a.clone());
        a
    }
}
