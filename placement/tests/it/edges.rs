//! Fixed cases: pinned outputs, degenerate inputs, weights, drained and dark regions.

use meridian_placement::{Member, PlacementConfig, RoleCounts, assign, shard_of, stable_hash};

use crate::{SHARDS, config, place};

fn five_in_three() -> Vec<Member> {
    vec![
        Member::new(1, "eu-west"),
        Member::new(2, "eu-west"),
        Member::new(3, "us-east"),
        Member::new(4, "us-east"),
        Member::new(5, "ap-south"),
    ]
}

/// The whole algorithm pinned: if this digest changes, nodes on the old and the new version
/// would disagree about ownership. Change it only with an intended, documented algorithm change.
#[test]
fn golden_assignment_is_pinned() {
    let a = place(&five_in_three());
    assert_eq!(a.digest(), "28127197b50e2e09");
    assert_eq!(a.poller_owner(0, "eu-west"), Some(1));
    assert_eq!(a.poller_owner(0, "us-east"), Some(4));
    assert_eq!(a.series_replicas(0), &[5u64, 3, 2][..]);
    assert_eq!(a.evaluator(0), Some(1));
    assert_eq!(
        a.counts()[&1],
        RoleCounts {
            poller: 523,
            series: 494,
            evaluator: 210
        }
    );
    assert_eq!(stable_hash(b"meridian"), 0x60EE_CEAD_231E_D5A4);
    assert_eq!(shard_of(b"tenant-1/entity-1/check-1", SHARDS), 276);
}

#[test]
fn no_members_or_no_live_members_place_nothing() {
    let empty = place(&[]);
    assert!(empty.counts().is_empty());
    assert_eq!(empty.series_replicas(0), &[] as &[u64]);
    assert_eq!(empty.evaluator(0), None);
    let down: Vec<Member> = five_in_three()
        .into_iter()
        .map(|m| Member { up: false, ..m })
        .collect();
    let a = place(&down);
    assert_eq!(a.counts().len(), 5);
    assert!(a.counts().values().all(|c| *c == RoleCounts::default()));
    assert_eq!(a.poller_owner(3, "eu-west"), None);
    assert_eq!(a.series_replicas(3), &[] as &[u64]);
}

#[test]
fn out_of_range_lookups_answer_nothing() {
    let a = place(&five_in_three());
    assert_eq!(a.poller_owner(SHARDS, "eu-west"), None);
    assert_eq!(a.poller_owner(0, "mars-north"), None);
    assert_eq!(a.series_replicas(SHARDS), &[] as &[u64]);
    assert_eq!(a.evaluator(SHARDS), None);
    let none = assign(
        &five_in_three(),
        &PlacementConfig {
            n_shards: 0,
            ..config()
        },
        1,
    );
    assert_eq!(none.counts().values().map(|c| c.series).sum::<u32>(), 0);
}

#[test]
fn replication_factor_is_clamped_to_live_nodes() {
    let two = &five_in_three()[..2];
    let cfg = PlacementConfig {
        replication_factor: Some(5),
        ..config()
    };
    let a = assign(two, &cfg, 1);
    assert_eq!(a.replication_factor(), 5);
    assert!((0..SHARDS).all(|s| a.series_replicas(s).len() == 2));
    let zero = assign(
        two,
        &PlacementConfig {
            replication_factor: Some(0),
            ..config()
        },
        1,
    );
    assert!((0..SHARDS).all(|s| zero.series_replicas(s).is_empty()));
}

#[test]
fn counts_cover_every_member_and_add_up() {
    let a = place(&five_in_three());
    let counts = a.counts();
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let total = counts
        .values()
        .fold(RoleCounts::default(), |t, c| RoleCounts {
            poller: t.poller + c.poller,
            series: t.series + c.series,
            evaluator: t.evaluator + c.evaluator,
        });
    assert_eq!(
        total,
        RoleCounts {
            poller: 3 * SHARDS,
            series: 3 * SHARDS,
            evaluator: SHARDS
        }
    );
    // The lone ap-south node polls every shard there and holds a replica of every shard.
    assert_eq!(counts[&5].poller, SHARDS);
    assert_eq!(counts[&5].series, SHARDS);
}

#[test]
fn weights_shift_load_proportionally() {
    let mut members: Vec<Member> = (1..=6).map(|id| Member::new(id, "eu-west")).collect();
    members[0].weight = 200;
    members[1].weight = 0;
    let counts = place(&members).counts();
    // Fair shares: 1024 * 200/600 = 341 for node 1, 171 for the others, none for the drained.
    assert_eq!(counts[&2], RoleCounts::default());
    assert!((300..=392).contains(&counts[&1].poller), "{:?}", counts[&1]);
    assert!(
        (300..=392).contains(&counts[&1].evaluator),
        "{:?}",
        counts[&1]
    );
    for id in 3..=6 {
        assert!(counts[&id].poller <= 196, "node {id}: {:?}", counts[&id]);
    }
}

/// A region whose nodes are all down keeps the replication factor: its replicas move to the
/// other regions, as diverse as the live regions allow.
#[test]
fn a_dark_region_keeps_the_replication_factor() {
    let members: Vec<Member> = five_in_three()
        .into_iter()
        .map(|m| Member {
            up: m.region != "ap-south",
            ..m
        })
        .collect();
    let a = place(&members);
    assert_eq!(a.replication_factor(), 3);
    for shard in 0..SHARDS {
        let replicas = a.series_replicas(shard);
        assert_eq!(replicas.len(), 3);
        assert!(replicas.iter().any(|&id| id <= 2) && replicas.iter().any(|&id| id >= 3));
        assert_eq!(a.poller_owner(shard, "ap-south"), None);
    }
}

/// Duplicate ids are resolved the same way whatever the order.
#[test]
fn duplicate_ids_do_not_depend_on_order() {
    let mut members = five_in_three();
    members.push(Member {
        up: false,
        ..Member::new(3, "us-east")
    });
    let a = place(&members);
    members.reverse();
    assert_eq!(a, place(&members));
}
