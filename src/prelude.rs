//! The traits most programs want in scope: `use httpbatch::prelude::*;`.

pub use crate::execute::Execute;
pub use crate::par::ParMap;
