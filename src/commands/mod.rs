//! One module per subcommand.

pub mod analyze;
pub mod decode;
pub mod events;
