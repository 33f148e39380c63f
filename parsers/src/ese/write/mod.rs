//! The ESE writer's pure encoding layers (the defrag engine in the app and the test kit's
//! database writer drive them): pages with the format's checksums, B-trees bulk-loaded from
//! entries in key order, space trees, the page layout of a new file, records, normalised keys,
//! catalog rows, and a fresh file header. Nothing here touches files: finished pages go to a
//! sink as `(page number, bytes)`, so the caller decides where and how they are written.

pub mod catalog;
pub mod columns;
pub mod error;
pub mod header;
pub mod keys;
pub mod layout;
pub mod page;
pub mod record;
pub mod space;
pub mod tree;

pub use error::WriteError;
pub use page::PageFormat;
pub use tree::TreeBuilder;
