//! The peer channel cache: every client it hands out, new or cached, reads large answers.

use std::time::Duration;

use meridian_proto::{
    Envelope, ObservationBatch, ObservationQuery, Observations, Peer, PeerServer, PushAck,
    RecheckRequest, Reply, SeriesAck, SeriesBatch, SeriesList, SeriesListQuery, SeriesQuery,
    SeriesQueryReply, SnapshotChunk, TestCheckRequest,
};
use meridian_raft::network::Peers;
use tonic::{Request, Response, Status, Streaming};

/// Bytes of every answer: above tonic's default 4 MiB decoding limit.
const BIG_REPLY: usize = 5 * 1024 * 1024;

struct Big;

type R = Result<Response<Reply>, Status>;

fn big() -> R {
    Ok(Response::new(Reply {
        node_id: 1,
        payload: vec![7; BIG_REPLY],
    }))
}

#[tonic::async_trait]
impl Peer for Big {
    async fn append_entries(&self, _: Request<Envelope>) -> R {
        big()
    }
    async fn vote(&self, _: Request<Envelope>) -> R {
        big()
    }
    async fn install_snapshot(&self, _: Request<Streaming<SnapshotChunk>>) -> R {
        big()
    }
    async fn forward_write(&self, _: Request<Envelope>) -> R {
        big()
    }
    async fn read_index(&self, _: Request<Envelope>) -> R {
        big()
    }
    async fn join(&self, _: Request<Envelope>) -> R {
        big()
    }
    async fn heartbeat(&self, _: Request<Envelope>) -> R {
        big()
    }
    async fn latest_observations(
        &self,
        _: Request<ObservationQuery>,
    ) -> Result<Response<Observations>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn test_check(
        &self,
        _: Request<TestCheckRequest>,
    ) -> Result<Response<Observations>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn push_observations(
        &self,
        _: Request<ObservationBatch>,
    ) -> Result<Response<PushAck>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn recheck(&self, _: Request<RecheckRequest>) -> Result<Response<PushAck>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn write_series(&self, _: Request<SeriesBatch>) -> Result<Response<SeriesAck>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn query_series(
        &self,
        _: Request<SeriesQuery>,
    ) -> Result<Response<SeriesQueryReply>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn list_series(
        &self,
        _: Request<SeriesListQuery>,
    ) -> Result<Response<SeriesList>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// Regression (pollers issue, item 9): a cached channel used to come back without the
/// 64 MiB decoding limit, so the second large answer on a connection failed to decode.
#[tokio::test]
async fn a_large_answer_is_read_on_a_new_and_on_a_cached_channel() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(PeerServer::new(Big).max_encoding_message_size(BIG_REPLY * 2))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let peers = Peers::new("k".into());
    for attempt in ["new", "cached", "cached again"] {
        let mut client = peers.client(&addr).expect("client");
        let env = Envelope {
            target_node_id: 1,
            payload: Vec::new(),
        };
        let reply = client
            .vote(peers.request(env, Duration::from_secs(10)))
            .await
            .unwrap_or_else(|e| panic!("{attempt} channel: {e}"));
        assert_eq!(reply.into_inner().payload.len(), BIG_REPLY, "{attempt}");
    }
    server.abort();
}
