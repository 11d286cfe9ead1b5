//! The symbolic layer: a hash-consed expression DAG, symbolic differentiation, and egg
//! simplification of f and all its derivatives together.
//!
//! It knows nothing of the text the model came from (that is `syntax`) nor of how the result
//! is run (that is `ir` and the backends).

mod diff;
mod graph;
mod print;
mod simplify;

pub use diff::{MAX_GRAPH_NODES, TooLarge, differentiate};
pub use graph::{Graph, Node, NodeId, Roots};
pub use simplify::{ConstantFold, SimplifyLimits, SimplifyReport, Sym, rule_sides, rules, simplify};
