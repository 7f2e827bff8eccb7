//! Tests of the sops reader.
