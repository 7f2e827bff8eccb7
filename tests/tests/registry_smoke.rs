//! The docker-registry harness starts and answers the distribution API over TLS.

use ferry_tests::registry::TestRegistry;

#[test]
fn registry_starts_with_and_without_auth() {
    for user in [None, Some(("edge", "password"))] {
        let r = TestRegistry::start(user).unwrap();
        let ca = ureq::tls::Certificate::from_pem(&std::fs::read(r.ca_file()).unwrap())
            .unwrap()
            .to_owned();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build()
            .new_agent();
        let resp = agent
            .get(&format!("https://{}/v2/", r.host))
            .call()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            if user.is_some() { 401 } else { 200 }
        );
    }
}
