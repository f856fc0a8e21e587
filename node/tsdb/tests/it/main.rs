//! Integration tests of the engine through its public API, on real files and processes.

mod bounds;
mod crash;
mod durability;
mod fixture;
mod index;
mod lifecycle;
mod model;
