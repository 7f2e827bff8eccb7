//! Request routing: discovery, OpenAPI and the resource verbs, with authentication, fault
//! injection and the request log.

use super::controllers;
use super::discovery as disc;
use super::errors::ApiError;
use super::faults::Injected;
use super::http::{Fault, Handler, Request, Response};
use super::rbac::{self, Identity};
use super::resources::ResourceType;
use super::store::State;
use super::{Faults, Inner, LogEntry};
use serde_json::Value;
use std::sync::Arc;

mod verbs;

pub(super) use verbs::parse_body;

/// The HTTP handler of a kube-sim instance.
pub struct Api(pub Arc<Inner>);

impl Handler for Api {
    fn fault(&self, _req: &Request) -> Fault {
        let mut f = self.0.faults.lock().unwrap_or_else(|e| e.into_inner());
        if !f.latency.is_zero() {
            let l = f.latency;
            drop(f);
            std::thread::sleep(l);
            f = self.0.faults.lock().unwrap_or_else(|e| e.into_inner());
        }
        if f.drop_next > 0 {
            f.drop_next -= 1;
            return Fault::Drop;
        }
        if f.drop_ratio > 0.0 && f.roll() < f.drop_ratio {
            return Fault::Drop;
        }
        Fault::None
    }

    fn handle(&self, req: Request) -> Response {
        controllers::observe(&mut self.0.state.lock().unwrap_or_else(|e| e.into_inner()));
        let (injected, compact) = {
            let mut f = self.0.faults.lock().unwrap_or_else(|e| e.into_inner());
            let compact = req.query("continue").is_some() && f.expire_continue_next > 0;
            if compact {
                f.expire_continue_next -= 1;
            }
            (inject_error(&mut f), compact)
        };
        if compact {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            state.compact();
        }
        let user = self.authenticate(&req);
        let identity = user.as_ref().map(|u| Identity {
            user: u.clone(),
            groups: vec!["system:masters".into()],
            admin: true,
        });
        let resp = match (injected, identity) {
            (Some(fault), _) => fault.response(),
            (None, None) if !is_public(&req.path) => {
                ApiError::new(401, "Unauthorized", "Unauthorized").response()
            }
            (None, id) => match impersonate(&req, id) {
                Ok(id) => self.route(&req, id),
                Err(e) => e.response(),
            },
        };
        let entry = LogEntry {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req
                .query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
            content_type: req.header("Content-Type").unwrap_or_default().to_string(),
            status: resp.status,
            user: user.unwrap_or_default(),
            user_agent: req.header("User-Agent").unwrap_or_default().to_string(),
        };
        self.0
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
        resp
    }
}

fn inject_error(f: &mut Faults) -> Option<Injected> {
    if f.not_ready_next > 0 {
        f.not_ready_next -= 1;
        return Some(Injected::NotReady);
    }
    if f.throttle_next > 0 {
        f.throttle_next -= 1;
        return Some(Injected::Throttled {
            retry_after: f.retry_after_secs,
            body: f.throttle_body,
        });
    }
    if f.fail_next > 0 {
        f.fail_next -= 1;
        return Some(Injected::Status(f.error_status));
    }
    if f.error_ratio > 0.0 && f.roll() < f.error_ratio {
        return Some(Injected::Status(f.error_status));
    }
    None
}

/// Applies `Impersonate-User`/`Impersonate-Group` headers; only the admin may impersonate.
fn impersonate(req: &Request, id: Option<Identity>) -> Result<Option<Identity>, ApiError> {
    let Some(user) = req.header("Impersonate-User") else {
        return Ok(id);
    };
    match id {
        Some(real) if real.admin => {
            let groups = req.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("Impersonate-Group")).map(|(_, v)| v.clone()).collect();
            Ok(Some(Identity { user: user.to_string(), groups, admin: false }))
        }
        Some(real) => Err(ApiError::new(403, "Forbidden", format!("users \"{user}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope", real.user))),
        None => Err(ApiError::new(401, "Unauthorized", "Unauthorized")),
    }
}

fn is_public(path: &str) -> bool {
    matches!(path, "/version" | "/healthz" | "/readyz" | "/livez")
}

fn ok(v: Value) -> Response {
    Response::json(200, &v)
}

/// A parsed resource URL.
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Api {
    fn authenticate(&self, req: &Request) -> Option<String> {
        if req.client_cert {
            return Some("system:admin".into());
        }
        let token = req.header("Authorization")?.strip_prefix("Bearer ")?;
        (token == self.0.token).then(|| "system:serviceaccount:kube-system:ferry".to_string())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn route(&self, req: &Request, id: Option<Identity>) -> Response {
        let segs: Vec<&str> = req
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let accept = req.header("Accept");
        let state = self.state();
        let types = &state.types;
        let not_found = || {
            ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
            .response()
        };
        match segs.as_slice() {
            ["version"] => ok(disc::version()),
            ["healthz"] | ["readyz"] | ["livez"] => {
                Response::new(200, "text/plain", b"ok".to_vec())
            }
            ["api"] if disc::wants_aggregated(accept) => aggregated(disc::aggregated(types, true)),
            ["api"] => ok(disc::api_versions()),
            ["apis"] if disc::wants_aggregated(accept) => {
                aggregated(disc::aggregated(types, false))
            }
            ["apis"] => ok(disc::api_group_list(types)),
            ["api", v] => disc::resource_list(types, "", v)
                .map(ok)
                .unwrap_or_else(not_found),
            ["apis", g] => disc::api_group(types, g).map(ok).unwrap_or_else(not_found),
            ["apis", g, v] => disc::resource_list(types, g, v)
                .map(ok)
                .unwrap_or_else(not_found),
            ["openapi", "v3"] => ok(disc::openapi_root(types)),
            ["openapi", "v3", "api", v] => disc::openapi_gv(types, "", v)
                .map(ok)
                .unwrap_or_else(not_found),
            ["openapi", "v3", "apis", g, v] => disc::openapi_gv(types, g, v)
                .map(ok)
                .unwrap_or_else(not_found),
            ["api", v, rest @ ..] => {
                drop(state);
                self.resource(req, id.as_ref(), "", v, rest)
            }
            ["apis", g, v, _, ..] if !types.iter().any(|t| t.group == *g && t.version == *v) => {
                super::errors::page_not_found()
            }
            ["apis", g, v, rest @ ..] => {
                drop(state);
                self.resource(req, id.as_ref(), g, v, rest)
            }
            _ => not_found(),
        }
    }

    fn target(&self, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
        let state = self.state();
        let lookup = |plural: &str| {
            state.rt_by_plural(group, version, plural).ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            })
        };
        let s = |x: &&str| x.to_string();
        let namespaced_path =
            rest.len() >= 3 && rest[0] == "namespaces" && !matches!(rest[2], "status" | "finalize");
        if namespaced_path {
            let rt = lookup(rest[2])?;
            if !rt.namespaced {
                return Err(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ));
            }
            return Ok(Target {
                rt,
                namespace: Some(rest[1].to_string()),
                name: rest.get(3).map(s),
                subresource: rest.get(4).map(s),
            });
        }
        match rest {
            [plural, more @ ..] if more.len() <= 2 => Ok(Target {
                rt: lookup(plural)?,
                namespace: None,
                name: more.first().map(s),
                subresource: more.get(1).map(s),
            }),
            _ => Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )),
        }
    }

    fn resource(
        &self,
        req: &Request,
        id: Option<&Identity>,
        group: &str,
        version: &str,
        rest: &[&str],
    ) -> Response {
        let checked = self.target(group, version, rest).and_then(|t| {
            if let Some(id) = id {
                let verb = match (req.method.as_str(), &t.name) {
                    ("GET", None) => "list",
                    ("GET", Some(_)) => "get",
                    ("POST", _) => "create",
                    ("PUT", _) => "update",
                    ("PATCH", _) => "patch",
                    ("DELETE", _) => "delete",
                    _ => "unknown",
                };
                rbac::authorize(
                    &self.state(),
                    id,
                    verb,
                    &t.rt,
                    t.namespace.as_deref(),
                    t.name.as_deref(),
                )?;
            }
            Ok(t)
        });
        match checked.and_then(|t| self.verb(req, t)) {
            Ok(r) => r,
            Err(e) => e.response(),
        }
    }
}

fn aggregated(v: Value) -> Response {
    Response::new(
        200,
        disc::AGGREGATED_CONTENT_TYPE,
        serde_json::to_vec(&v).unwrap_or_default(),
    )
}
