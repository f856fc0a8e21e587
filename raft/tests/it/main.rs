//! Integration tests of the raft crate's storage: openraft's Suite, restart recovery, group
//! commit and snapshot persistence.

mod peers;
mod storage;
