//! One module per subcommand.

pub mod analyze;
pub mod db;
pub mod decode;
pub mod events;
pub mod fix;
pub mod manual;
pub mod rules;
