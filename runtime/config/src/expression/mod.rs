//! Limits on CEL expressions: their text before parsing, the functions and kinds of values
//! they use once compiled, and a worst-case bound on the cost of evaluating them.
//!
//! The `cel` crate (0.15) has neither a depth limit that holds for every form nor a cost
//! limit, so both are Junction's: validation refuses an expression that could overflow the
//! stack or cost more than [`MAX_EVALUATION_COST`] on a change of [`VALIDATION_CHANGE_SIZE`],
//! and the planner computes the bound again with the real change before it evaluates one: a
//! change too large for the expression is held with the reason, never evaluated.

pub(crate) mod check;
pub(crate) mod cost;
pub(crate) mod text;

pub use cost::input_size;
pub use text::{MAX_EXPRESSION_BYTES, MAX_EXPRESSION_DEPTH};

/// The most an expression may cost, in evaluation steps (a node evaluated, a member or a byte
/// copied or compared), for one change. Measured in a release build, a step takes 25-40 ns
/// when the bound is reached (a pass over a list of a million numbers: 1.5e7 steps, 0.6 s), so
/// this keeps the worst case of one expression on one change to about 2 s of CPU.
pub const MAX_EVALUATION_COST: f64 = 5e7;

/// The size of change validation assumes, in the units of [`input_size`] (about one per byte
/// of JSON): 512 KiB, well above an ordinary subscription or invoice event. A pass over such a
/// change with a condition of a few dozen steps per element fits the limit; a loop nested over
/// one list does not, whatever its condition. Larger changes are checked when they arrive.
pub const VALIDATION_CHANGE_SIZE: f64 = 512.0 * 1024.0;
