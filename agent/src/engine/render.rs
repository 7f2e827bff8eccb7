//! Render: bundle files -> objects. The logic lives in [`ferry_bundle::render`], shared with
//! `ferry-bundle build` so a publisher's check and a device's reading are the same code.

pub use ferry_bundle::render::*;
