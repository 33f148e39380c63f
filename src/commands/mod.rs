//! One module per subcommand.

pub mod analyze;
pub mod db;
pub mod db_defrag;
pub mod decode;
pub mod events;
pub mod fix;
pub mod rules;
