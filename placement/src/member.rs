//! A cluster member as placement sees it: id, region, liveness and weight.

use serde::{Deserialize, Serialize};

/// The weight `Member::new` gives. Weights are relative: a member of weight 200 gets about twice
/// the shards of one of weight 100 (within its region for pollers).
pub const DEFAULT_WEIGHT: u32 = 100;

/// One committed cluster member.
///
/// Only members that are `up` with a positive `weight` hold roles; a member with weight 0 is
/// drained: it stays listed (with zero counts) but owns nothing. Ids are unique; if a list
/// repeats an id, the entry that sorts first by (region, up, weight) is used, so the outcome
/// still does not depend on the list's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    pub region: String,
    pub up: bool,
    pub weight: u32,
}

impl Member {
    /// A live member with the default weight.
    pub fn new(id: u64, region: impl Into<String>) -> Member {
        Member {
            id,
            region: region.into(),
            up: true,
            weight: DEFAULT_WEIGHT,
        }
    }

    /// Whether this member may hold roles.
    pub fn is_eligible(&self) -> bool {
        self.up && self.weight > 0
    }
}
