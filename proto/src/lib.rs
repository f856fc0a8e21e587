//! Wire types of the node-to-node gRPC service.
//!
//! Architecture invariant: this is the only crate with protobuf wire types; nothing here knows
//! about Raft semantics, HTTP or storage.
#![allow(clippy::all)]

/// Generated code for `meridian.peer.v1`.
pub mod peer {
    tonic::include_proto!("meridian.peer.v1");
}

pub use peer::peer_client::PeerClient;
pub use peer::peer_server::{Peer, PeerServer};
pub use peer::{
    Envelope, Metric, Observation, ObservationBatch, ObservationQuery, Observations, PushAck,
    RecheckRequest, Reply, SeriesAck, SeriesBatch, SeriesData, SeriesList, SeriesListQuery,
    SeriesQuery, SeriesQueryReply, SeriesStats, SnapshotChunk, StatRow, TestCheckRequest,
};
