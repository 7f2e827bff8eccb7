//! Writing a `.bundle` archive: head first (manifest, signature), then the content files in
//! manifest order, then each distinct image blob streamed from the bundle directory.

use crate::manifest::Manifest;
use crate::safe_open;
use crate::{MANIFEST_FILE, SIGNATURE_FILE};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use tar::EntryType;

/// Writes a gzip tar archive of the plain bundle in `dir` (manifest, signature, files).
pub fn write(
    dir: &Path,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    signature: &str,
    out: impl Write,
) -> io::Result<()> {
    let gz = GzEncoder::new(out, Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    append_bytes(
        &mut tar,
        MANIFEST_FILE,
        manifest_bytes,
        manifest.created.unix(),
    )?;
    append_bytes(
        &mut tar,
        SIGNATURE_FILE,
        signature.as_bytes(),
        manifest.created.unix(),
    )?;
    for f in &manifest.files {
        let data = fs::read(dir.join(&f.path))?;
        append_bytes(&mut tar, &f.path, &data, manifest.created.unix())?;
    }
    // Image blobs stream from the bundle directory (a layer never sits in memory).
    for (hex, blob) in crate::images::distinct_blobs(&manifest.images) {
        let file = safe_open::open_regular(&crate::layout::blob_path(dir, &hex))?;
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(EntryType::Regular);
        header.set_size(blob.size);
        header.set_mode(0o644);
        header.set_mtime(manifest.created.unix());
        tar.append_data(&mut header, image_blob_member(&hex), file.take(blob.size))?;
    }
    tar.into_inner()?.finish()?.flush()
}

/// The archive member of an image blob.
pub fn image_blob_member(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(EntryType::Regular);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    tar.append_data(&mut header, path, data)
}
