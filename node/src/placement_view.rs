//! This node's view of placement: the `Assignment` derived from the committed members, cached
//! per epoch (the log index of the last member change), so every node computes the same one.
//! `PlacementView` is the narrow handle subsystems (pollers, results, series) hold.

use std::sync::{Arc, Mutex};

use meridian_placement::{Assignment, Member, PlacementConfig, assign};
use meridian_raft::state_machine::StateView;

use crate::node::Node;

/// The applied placement, recomputed when the applied member list changes.
#[derive(Clone)]
pub struct PlacementView {
    state: StateView,
    /// Shards before the cluster record says (a node not yet initialised).
    default_n_shards: u32,
    current: Arc<Mutex<Option<Arc<Assignment>>>>,
}

impl PlacementView {
    pub fn new(state: StateView, default_n_shards: u32) -> PlacementView {
        PlacementView {
            state,
            default_n_shards,
            current: Arc::default(),
        }
    }

    /// The applied configuration this placement is derived from.
    pub fn state(&self) -> &StateView {
        &self.state
    }

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
            let n_shards = s
                .cluster_info()
                .map_or(self.default_n_shards, |i| i.n_shards);
            (s.members_epoch(), members, n_shards)
        });
        let mut cache = self.current.lock().expect("placement cache lock");
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

impl Node {
    /// The assignment for the committed members as this node has applied them.
    pub fn assignment(&self) -> Arc<Assignment> {
        self.placement.assignment()
    }
}

impl Node {
    /// This node as the pollers' peer calls see it.
    pub fn poller_local(&self) -> crate::poller::remote::Local {
        crate::poller::remote::Local {
            node_id: self.id,
            region: self.cfg.region.clone(),
            pollers: self.pollers.clone(),
        }
    }

    /// Gathers observations across the cluster through this node.
    pub fn gather<'a>(
        &'a self,
        local: &'a crate::poller::remote::Local,
    ) -> crate::poller::remote::Gather<'a> {
        crate::poller::remote::Gather {
            local,
            peers: &self.peers,
            placement: &self.placement,
        }
    }
}
