//! A hostile site peer: a plain-HTTP server written here that answers as a relay would
//! (`/app/<file>` from a directory the test chooses), offering an older revision, a revision
//! tampered after signing (its manifest, or a content file), and an endless body. The node
//! refuses each with a named reason, applies nothing, and keeps its last good revision.

use crate::harness::{configmaps, Api, Site};
use crate::scenarios::{all_at, value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the peer answers.
#[derive(Clone)]
enum Answer {
    /// The files of this published bundle directory.
    Dir(PathBuf),
    /// A huge announced length, then zeros until the client hangs up.
    Endless,
}

fn serve(answer: Arc<Mutex<Answer>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let answer = answer.lock().unwrap().clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap_or(0);
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                // Skip the headers.
                let mut h = String::new();
                while r.read_line(&mut h).unwrap_or(0) > 2 {
                    h.clear();
                }
                let mut w = conn;
                match answer {
                    Answer::Dir(dir) => {
                        let file = path.strip_prefix("/app/").map(|f| dir.join(f));
                        match file.and_then(|f| std::fs::read(f).ok()) {
                            Some(body) => {
                                let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                                let _ = w.write_all(&body);
                            }
                            None => {
                                let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                            }
                        }
                    }
                    Answer::Endless => {
                        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n");
                        let zeros = [b'#'; 65536];
                        while w.write_all(&zeros).is_ok() {}
                    }
                }
            });
        }
    });
    port
}

/// Lays out `dir`'s `files` as a relay serves them: `blobs/sha256/<digest>`.
fn as_relay(dir: &std::path::Path, files: &[(&str, String)]) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for (_, content) in files {
        let digest = ferry_bundle::digest::sha256_hex(content.as_bytes());
        std::fs::write(blobs.join(digest), content).unwrap();
    }
    dir.to_path_buf()
}

#[test]
fn a_hostile_peer_offering_older_tampered_or_endless_answers_is_refused_and_the_site_keeps_its_revision(
) {
    let mut site = Site::new(Api::Sim, "hostile");
    let elsewhere = site.env.dir.path().join("peer-bundles");
    let files1 = configmaps(&site.ns, 2, "1");
    let older = site.env.publish_with(&elsewhere, "app", 1, &files1, |_| {});
    let older = as_relay(&older, &files1);
    site.env.publish(2, &configmaps(&site.ns, 2, "2"));
    // Nothing there until the node applied revision 2 (a 404).
    let answer = Arc::new(Mutex::new(Answer::Dir(elsewhere.join("none"))));
    let port = serve(answer.clone());
    let token = site.env.dir.path().join("site-token");
    std::fs::write(&token, "ferry-test-site-token-0123456789abcdef\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = &site.nodes[0].config;
    let text = std::fs::read_to_string(config).unwrap().replace(
        "site:\n  name: hostile\n",
        &format!(
            "site:\n  name: hostile\n  peers:\n    - {{url: \"http://127.0.0.1:{port}/\", tokenFile: {}}}\n",
            token.display()
        ),
    );
    assert!(text.contains("peers:"), "{text}");
    std::fs::write(config, text).unwrap();
    site.start(0, &[]);
    site.ticks_until("node-1 applied revision 2", 30, || all_at(&site, 2, 2));

    // (a) An older revision, validly signed.
    *answer.lock().unwrap() = Answer::Dir(older);
    site.more_passes(0, 2);
    assert_eq!(value(&site, 0), Some(2), "{}", site.logs());
    assert!(
        site.log(0).contains("site peer refused") && site.log(0).contains("rollback refused"),
        "no named refusal of the older revision\n{}",
        site.logs()
    );

    // (b1) Revision 3 whose manifest changed after signing.
    let files3 = configmaps(&site.ns, 2, "3");
    let tampered = site.env.publish_with(&elsewhere, "app", 3, &files3, |_| {});
    let tampered = as_relay(&tampered, &files3);
    let manifest = tampered.join(ferry_bundle::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}# changed after signing\n")).unwrap();
    *answer.lock().unwrap() = Answer::Dir(tampered.clone());
    site.more_passes(0, 3);
    assert_eq!(value(&site, 0), Some(2), "{}", site.logs());
    assert!(
        site.log(0).matches("site peer refused").count() >= 2
            && site.log(0).to_lowercase().contains("signature"),
        "no named refusal of the tampered manifest\n{}",
        site.logs()
    );

    // (b2) Revision 4, its manifest intact, a content file changed after signing.
    let files4 = configmaps(&site.ns, 2, "4");
    let good4 = site.env.publish_with(&elsewhere, "app", 4, &files4, |_| {});
    let good4 = as_relay(&good4, &files4);
    let blob = ferry_bundle::digest::sha256_hex(files4[1].1.as_bytes());
    let changed = files4[1].1.replace("\"4\"", "\"9\"");
    assert_ne!(changed, files4[1].1);
    std::fs::write(good4.join("blobs/sha256").join(blob), changed).unwrap();
    *answer.lock().unwrap() = Answer::Dir(good4);
    site.more_passes(0, 3);
    assert_eq!(value(&site, 0), Some(2), "{}", site.logs());
    assert!(
        site.log(0).contains("has sha256"),
        "no named refusal of the tampered content\n{}",
        site.logs()
    );

    // The peer still offers its tampered revision 4; the node's own source offers revision 3:
    // the refused offer does not hold the own source back.
    site.env.publish(3, &configmaps(&site.ns, 2, "3"));
    site.ticks_until("node-1 applied revision 3 from its own source", 30, || {
        all_at(&site, 2, 3)
    });

    // (c) An endless body: bounded by the source limits, the node keeps passing.
    *answer.lock().unwrap() = Answer::Endless;
    site.more_passes(0, 3);
    assert_eq!(value(&site, 0), Some(3), "{}", site.logs());
    assert!(
        site.log(0).contains("larger than the limit"),
        "the endless body was not cut at the limit\n{}",
        site.logs()
    );

    // A good newer revision from the peer is still taken.
    let files5 = configmaps(&site.ns, 2, "5");
    let good5 = site.env.publish_with(&elsewhere, "app", 5, &files5, |_| {});
    let good5 = as_relay(&good5, &files5);
    *answer.lock().unwrap() = Answer::Dir(good5);
    site.ticks_until("node-1 applied revision 5 from the peer", 30, || {
        all_at(&site, 2, 5)
    });
    // The peer serving the applied revision is the steady state, not a refusal.
    site.more_passes(0, 2);
    assert!(!site.log(0).contains("revision 5 is"), "{}", site.logs());
}
