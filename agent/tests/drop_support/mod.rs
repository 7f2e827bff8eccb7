//! The device of the end-to-end drop attack tests (`hostile_drop_bounds`, `hostile_drop_names`):
//! the real `ferry-agent sync --once` under the unit's memory limit, and the checks of the
//! whole "done when" after each attack.

#![allow(dead_code)]

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit's `MemoryMax=128M`.
pub const MEMORY_MAX: u64 = 128 << 20;

/// A device with revision 1 applied, a quarantine beside the drop and a scratch `TMPDIR`.
pub struct Device {
    pub env: Env,
    pub quarantine: PathBuf,
    pub tmp: PathBuf,
}

impl Device {
    pub fn new() -> Self {
        let env = Env::new();
        let quarantine = env.dir.path().join("quarantine");
        env.write_config_source(
            "",
            &format!(
                "{{type: directory, path: {}, quarantine: {}}}",
                env.drop_dir().display(),
                quarantine.display()
            ),
            "timeout: 5s",
            "",
        );
        let tmp = env.dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let device = Device {
            env,
            quarantine,
            tmp,
        };
        device
            .env
            .publish(1, &[("a.yaml", cm("a", "default", "1"))]);
        let (code, out) = device.sync();
        assert_eq!(code, 0, "{out}");
        std::fs::remove_dir_all(device.env.drop_dir().join("app-1")).unwrap();
        device
    }

    /// `sync --once` under the memory limit; a hang is killed after 5 minutes (exit 137).
    pub fn sync(&self) -> (i32, String) {
        let o = Command::new("timeout")
            .args(["--signal=KILL", "300", "prlimit"])
            .arg(format!("--data={MEMORY_MAX}"))
            .arg(env!("CARGO_BIN_EXE_ferry-agent"))
            .arg("--config")
            .arg(&self.env.config)
            .args(["sync", "--once"])
            .env("TMPDIR", &self.tmp)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    pub fn state(&self) -> PathBuf {
        self.env.dir.path().join("state")
    }

    /// Every path under the test root outside the agent's own directories, with its size and
    /// modification time.
    pub fn outside(&self) -> BTreeMap<PathBuf, (u64, i64)> {
        let own = [self.state(), self.quarantine.clone(), self.env.drop_dir()];
        let mut out = BTreeMap::new();
        let mut stack = vec![self.env.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if own.contains(&p) {
                    continue;
                }
                use std::os::unix::fs::MetadataExt;
                let m = std::fs::symlink_metadata(&p).unwrap();
                out.insert(
                    p.clone(),
                    (m.len(), m.mtime_nsec() + m.mtime() * 1_000_000_000),
                );
                if m.is_dir() {
                    stack.push(p);
                }
            }
        }
        out
    }

    /// Bytes of `state.db` and its WAL.
    pub fn state_bytes(&self) -> u64 {
        ["state.db", "state.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.state().join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    pub fn integrity(&self) -> String {
        let c = rusqlite::Connection::open(self.state().join("state.db")).unwrap();
        c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap()
    }

    /// Every text value in every table of `state.db`.
    pub fn stored_texts(&self) -> Vec<String> {
        let c = rusqlite::Connection::open(self.state().join("state.db")).unwrap();
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let mut out = Vec::new();
        for t in tables {
            let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = st.column_count();
            let mut rows = st.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..n {
                    if let Ok(rusqlite::types::ValueRef::Text(b)) = row.get_ref(i) {
                        out.push(String::from_utf8_lossy(b).into_owned());
                    }
                }
            }
        }
        out
    }

    pub fn status_configmap_bytes(&self) -> usize {
        let cm = self.env.obj("", "ConfigMap", "kube-system", "ferry-status");
        cm.expect("the status ConfigMap (default namespace kube-system)")
            .to_string()
            .len()
    }

    /// Drops `candidate` (written by `place`), syncs, and checks the whole "done when": the
    /// sync finished (no abort, no hang) with `expect` in its output, the candidate was
    /// quarantined (when `quarantined`), and every bound held.
    pub fn attack(&self, what: &str, expect: &str, quarantined: bool, place: impl FnOnce(&Path)) {
        let before = self.outside();
        let state_before = self.state_bytes();
        place(&self.env.drop_dir());
        let (code, out) = self.sync();
        assert!(
            code == 0 || code == 1,
            "{what}: the agent did not finish (exit {code}): {}",
            ferry_bundle::text::bounded(&out, 4096)
        );
        assert!(
            out.contains(expect),
            "{what}: expected {expect:?} in: {}",
            ferry_bundle::text::bounded(&out, 4096)
        );
        assert!(
            out.len() < 64 * 1024,
            "{what}: {} bytes of output",
            out.len()
        );
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{what}: raw control characters in the output"
        );
        if quarantined {
            let left: Vec<_> = std::fs::read_dir(self.env.drop_dir())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert!(left.is_empty(), "{what}: not quarantined: {left:?}");
        }
        assert_eq!(
            self.env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
            "1",
            "{what}: the last good revision must stay applied"
        );
        assert_eq!(self.integrity(), "ok", "{what}");
        let grown = self.state_bytes().saturating_sub(state_before);
        assert!(grown < 1 << 20, "{what}: state.db grew by {grown} bytes");
        let status = self.status_configmap_bytes();
        assert!(
            status < 64 * 1024,
            "{what}: status ConfigMap of {status} bytes"
        );
        assert_eq!(self.outside(), before, "{what}: written outside");
        let left: Vec<_> = std::fs::read_dir(&self.tmp).unwrap().collect();
        assert!(left.is_empty(), "{what}: left in TMPDIR: {left:?}");
        // Leave the drop empty for the next attack.
        for e in std::fs::read_dir(self.env.drop_dir()).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
}
