//! What the sign-in tables hold, as operations: local users, sessions (by the hash of their
//! id), API tokens (by hash), retired devices and OIDC logins under way. Every statement is
//! written once for both databases ([`super::db`]).

use super::db::{Db, DbError, Val};
use super::roles::Role;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub user: String,
    pub role: Role,
    pub created: i64,
    pub last_used: i64,
}

/// An OIDC login under way (stored under the hash of its `state`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub verifier: String,
    pub nonce: String,
    pub return_to: String,
    pub expires: i64,
}

fn role(v: &Val) -> Result<Role, DbError> {
    let s = v.text()?;
    Role::parse(s).ok_or_else(|| DbError::Corrupt(format!("role {s:?}")))
}

impl Db {
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        now: i64,
    ) -> Result<(), DbError> {
        if self.user(name).await?.is_some() {
            return Err(DbError::Exists(format!("user {name:?}")));
        }
        self.exec(vec![(
            "INSERT INTO users(name, role, password_hash, created) VALUES ($1,$2,$3,$4)",
            vec![name.into(), role.as_str().into(), hash.into(), now.into()],
        )])
        .await
        .map(drop)
    }

    /// Sets a new password and ends the user's sessions.
    pub async fn set_password(&self, name: &str, hash: &str) -> Result<(), DbError> {
        let n = self
            .exec(vec![
                (
                    "UPDATE users SET password_hash=$1 WHERE name=$2",
                    vec![hash.into(), name.into()],
                ),
                ("DELETE FROM sessions WHERE user_name=$1", vec![name.into()]),
            ])
            .await?;
        (n[0] == 1)
            .then_some(())
            .ok_or(DbError::Missing(format!("user {name:?}")))
    }

    /// Removes the user and ends their sessions.
    pub async fn remove_user(&self, name: &str) -> Result<(), DbError> {
        let n = self
            .exec(vec![
                ("DELETE FROM users WHERE name=$1", vec![name.into()]),
                ("DELETE FROM sessions WHERE user_name=$1", vec![name.into()]),
            ])
            .await?;
        (n[0] == 1)
            .then_some(())
            .ok_or(DbError::Missing(format!("user {name:?}")))
    }

    /// A user's role and password hash.
    pub async fn user(&self, name: &str) -> Result<Option<(Role, String)>, DbError> {
        let rows = self
            .query(
                "SELECT role, password_hash FROM users WHERE name=$1",
                vec![name.into()],
            )
            .await?;
        rows.first()
            .map(|r| Ok((role(&r[0])?, r[1].text()?.to_string())))
            .transpose()
    }

    pub async fn create_session(
        &self,
        id_hash: &str,
        user: &str,
        role: Role,
        now: i64,
    ) -> Result<(), DbError> {
        self.exec(vec![(
            "INSERT INTO sessions(id_hash, user_name, role, created, last_used) VALUES ($1,$2,$3,$4,$4)",
            vec![id_hash.into(), user.into(), role.as_str().into(), now.into()],
        )])
        .await
        .map(drop)
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>, DbError> {
        let rows = self
            .query(
                "SELECT user_name, role, created, last_used FROM sessions WHERE id_hash=$1",
                vec![id_hash.into()],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(SessionRow {
                    user: r[0].text()?.to_string(),
                    role: role(&r[1])?,
                    created: r[2].int()?,
                    last_used: r[3].int()?,
                })
            })
            .transpose()
    }

    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), DbError> {
        self.exec(vec![(
            "UPDATE sessions SET last_used=$1 WHERE id_hash=$2",
            vec![now.into(), id_hash.into()],
        )])
        .await
        .map(drop)
    }

    pub async fn end_session(&self, id_hash: &str) -> Result<(), DbError> {
        self.exec(vec![(
            "DELETE FROM sessions WHERE id_hash=$1",
            vec![id_hash.into()],
        )])
        .await
        .map(drop)
    }

    /// Drops sessions idle since before `idle_before` or made before `made_before`, and OIDC
    /// logins that expired before `now`.
    pub async fn prune_sessions(
        &self,
        idle_before: i64,
        made_before: i64,
        now: i64,
    ) -> Result<u64, DbError> {
        let n = self
            .exec(vec![
                (
                    "DELETE FROM sessions WHERE last_used < $1 OR created < $2",
                    vec![idle_before.into(), made_before.into()],
                ),
                (
                    "DELETE FROM oidc_pending WHERE expires < $1",
                    vec![now.into()],
                ),
            ])
            .await?;
        Ok(n.iter().sum())
    }

    pub async fn add_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let exists = self
            .query(
                "SELECT name FROM api_tokens WHERE name=$1",
                vec![name.into()],
            )
            .await?;
        if !exists.is_empty() {
            return Err(DbError::Exists(format!("token {name:?}")));
        }
        self.exec(vec![(
            "INSERT INTO api_tokens(name, role, token_hash, created) VALUES ($1,$2,$3,$4)",
            vec![name.into(), role.as_str().into(), hash.into(), now.into()],
        )])
        .await
        .map(drop)
    }

    pub async fn remove_token(&self, name: &str) -> Result<(), DbError> {
        let n = self
            .exec(vec![(
                "DELETE FROM api_tokens WHERE name=$1",
                vec![name.into()],
            )])
            .await?;
        (n[0] == 1)
            .then_some(())
            .ok_or(DbError::Missing(format!("token {name:?}")))
    }

    /// The name and role of the API token whose hash is `hash`.
    pub async fn token(&self, hash: &str) -> Result<Option<(String, Role)>, DbError> {
        let rows = self
            .query(
                "SELECT name, role FROM api_tokens WHERE token_hash=$1",
                vec![hash.into()],
            )
            .await?;
        rows.first()
            .map(|r| Ok((r[0].text()?.to_string(), role(&r[1])?)))
            .transpose()
    }

    /// Retires a device: records it and drops its latest state, history and events (it
    /// disappears from every view and figure).
    pub async fn retire(&self, device: &str, by: &str, now: i64) -> Result<(), DbError> {
        let d = || vec![Val::from(device)];
        self.exec(vec![
            (
                "INSERT INTO retired(device, time, by_user) VALUES ($1,$2,$3) ON CONFLICT(device) DO NOTHING",
                vec![device.into(), now.into(), by.into()],
            ),
            ("DELETE FROM syncs WHERE device=$1", d()),
            ("DELETE FROM site_members WHERE device=$1", d()),
            ("DELETE FROM devices WHERE id=$1", d()),
            ("DELETE FROM changes WHERE device=$1", d()),
            ("DELETE FROM events WHERE device=$1", d()),
        ])
        .await
        .map(drop)
    }

    /// Takes a device off the retired list (its reports are accepted again).
    pub async fn unretire(&self, device: &str) -> Result<(), DbError> {
        self.exec(vec![(
            "DELETE FROM retired WHERE device=$1",
            vec![device.into()],
        )])
        .await
        .map(drop)
    }

    pub async fn retired(&self) -> Result<Vec<String>, DbError> {
        let rows = self.query("SELECT device FROM retired", vec![]).await?;
        rows.iter().map(|r| Ok(r[0].text()?.to_string())).collect()
    }

    pub async fn put_pending(&self, state_hash: &str, p: &Pending) -> Result<(), DbError> {
        self.exec(vec![(
            "INSERT INTO oidc_pending(state_hash, verifier, nonce, return_to, expires) VALUES ($1,$2,$3,$4,$5)",
            vec![
                state_hash.into(),
                p.verifier.as_str().into(),
                p.nonce.as_str().into(),
                p.return_to.as_str().into(),
                p.expires.into(),
            ],
        )])
        .await
        .map(drop)
    }

    /// Takes (reads and deletes) a pending login: each `state` is used at most once.
    pub async fn take_pending(&self, state_hash: &str) -> Result<Option<Pending>, DbError> {
        let rows = self
            .query(
                "SELECT verifier, nonce, return_to, expires FROM oidc_pending WHERE state_hash=$1",
                vec![state_hash.into()],
            )
            .await?;
        let n = self
            .exec(vec![(
                "DELETE FROM oidc_pending WHERE state_hash=$1",
                vec![state_hash.into()],
            )])
            .await?;
        if n[0] == 0 {
            return Ok(None);
        }
        rows.first()
            .map(|r| {
                Ok(Pending {
                    verifier: r[0].text()?.to_string(),
                    nonce: r[1].text()?.to_string(),
                    return_to: r[2].text()?.to_string(),
                    expires: r[3].int()?,
                })
            })
            .transpose()
    }
}
