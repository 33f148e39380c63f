//! One module per subcommand.

pub mod db;
pub mod events;
