//! The typed round trip every write of a built-in kind goes through in the real API server:
//! decoding into Go types (unknown fields, integer and quantity fields), defaulting,
//! canonical quantities, `omitempty` encoding, and validation of immutable fields.

pub mod quantity;
pub mod defaults;
