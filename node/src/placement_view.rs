//! This node's view of placement: the `Assignment` derived from the committed members, cached
//! per epoch (the log index of the last member change), so every node computes the same one.

use std::sync::{Arc, Mutex};

use meridian_placement::{Assignment, Member, PlacementConfig, assign};

use crate::node::Node;

#[derive(Default)]
pub struct PlacementCache {
    current: Mutex<Option<Arc<Assignment>>>,
}

impl Node {
    /// The assignment for the committed members as this node has applied them.
    pub fn assignment(&self) -> Arc<Assignment> {
        let (epoch, members, n_shards) = self.state.read(|s| {
            let members: Vec<Member> = s
                .members()
                .map(|m| Member {
                    id: m.id,
                    region: m.region.clone(),
                    up: m.up,
                    weight: m.weight,
                })
                .collect();
            let n_shards = s.cluster_info().map_or(self.cfg.n_shards, |i| i.n_shards);
            (s.members_epoch(), members, n_shards)
        });
        let mut cache = self.placement.current.lock().expect("placement cache lock");
        if let Some(a) = cache.as_ref()
            && a.epoch == epoch
            && a.n_shards == n_shards
        {
            return a.clone();
        }
        let cfg = PlacementConfig {
            n_shards,
            replication_factor: None,
        };
        let a = Arc::new(assign(&members, &cfg, epoch));
        *cache = Some(a.clone());
        a
    }
}
