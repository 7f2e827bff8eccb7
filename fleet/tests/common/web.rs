//! A browser-like HTTPS client for the sign-in and form tests: keeps cookies, never follows
//! redirects, posts forms with `Sec-Fetch-Site` as a browser would.

use super::Receiver;
use std::collections::BTreeMap;

/// A browser-like client: keeps cookies, never follows redirects.
pub struct Web<'a> {
    pub r: &'a Receiver,
    pub http: ureq::Agent,
    pub jar: BTreeMap<String, String>,
}

pub struct Answer {
    pub status: u16,
    pub location: String,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl<'a> Web<'a> {
    pub fn new(r: &'a Receiver) -> Self {
        Web {
            r,
            http: r.raw_client(),
            jar: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &ureq::http::Response<ureq::Body>) -> Vec<String> {
        let all: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &all {
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.into(), v.into());
            }
        }
        all
    }

    fn answer(&mut self, mut resp: ureq::http::Response<ureq::Body>) -> Answer {
        let set_cookies = self.keep(&resp);
        Answer {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            set_cookies,
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let resp = self
            .http
            .get(&format!("{}{path}", self.r.url))
            .header("Cookie", &self.cookie_header())
            .call()
            .unwrap();
        self.answer(resp)
    }

    /// POSTs a form, as a same-origin browser would (`Sec-Fetch-Site` given).
    pub fn post(&mut self, path: &str, form: &[(&str, &str)], site: &str) -> Answer {
        let resp = self
            .http
            .post(&format!("{}{path}", self.r.url))
            .header("Cookie", &self.cookie_header())
            .header("Sec-Fetch-Site", site)
            .send_form(form.iter().copied())
            .unwrap();
        self.answer(resp)
    }

    /// The value of hidden input `name` in the last page.
    pub fn hidden(body: &str, name: &str) -> String {
        let at = body
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("no {name} in {body}"));
        let rest = &body[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    pub fn login(&mut self, user: &str, password: &str, next: &str) -> Answer {
        let page = self.get(&format!("/login?next={next}"));
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = Self::hidden(&page.body, "csrf");
        let next = Self::hidden(&page.body, "next");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("next", &next),
                ("username", user),
                ("password", password),
            ],
            "same-origin",
        )
    }
}
