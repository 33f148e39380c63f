//! The ESE writer's pure encoding layers (the defrag engine in the app drives them): pages with
//! the format's checksums, B-trees bulk-loaded from entries in key order, space trees, and a
//! fresh file header. Nothing here touches files: finished pages go to a sink as
//! `(page number, bytes)`, so the caller decides where and how they are written.

pub mod header;
pub mod page;
pub mod space;
pub mod tree;

pub use page::PageFormat;
pub use tree::TreeBuilder;
