//! HTTPS that trusts only the root certificates compiled into the binary.
//!
//! The Fargate image is `FROM scratch`: it has no CA bundle on disk, so the platform's trust
//! store is not an option. The processors' HTTP client trusts Mozilla's root program instead
//! (the `webpki-root-certs` crate, the list browsers use), which covers the Amazon Trust
//! Services and Starfield roots the AWS endpoints chain to. It is the SDK's default client in
//! every other respect: rustls with aws-lc-rs, the SDK's cipher suites, HTTP/1.1 and HTTP/2,
//! and the `HTTPS_PROXY` / `NO_PROXY` environment variables.

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};

use webpki_root_certs::TLS_SERVER_ROOT_CERTS as BUNDLED_ROOTS;

/// The bundled roots as one PEM document, the form the SDK's trust store takes.
fn bundled_roots_pem() -> Vec<u8> {
    const LINE: usize = 64;
    let mut pem = Vec::with_capacity(BUNDLED_ROOTS.iter().map(|c| c.len() * 3 / 2).sum());
    for certificate in BUNDLED_ROOTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let encoded = aws_smithy_types::base64::encode(certificate.as_ref());
        for line in encoded.as_bytes().chunks(LINE) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// The HTTP client for the SDK: trusts the bundled roots, plus `extra_roots_pem` if given
/// (PEM certificates, for tests against a local CA), and nothing from the file system.
pub(crate) fn https_client_trusting(extra_roots_pem: Option<&[u8]>) -> SharedHttpClient {
    let mut trust_store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(bundled_roots_pem());
    if let Some(extra) = extra_roots_pem {
        trust_store = trust_store.with_pem_certificate(extra.to_vec());
    }
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .expect("a TLS context with a trust store always builds");
    // What the SDK's default client does (aws-smithy-runtime's `default_https_client`), with
    // our trust store: one connector per timeout setting, proxies from the environment.
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls_context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The HTTP client [`S3Store::from_environment`](crate::S3Store::from_environment) uses (for S3
/// and for the credential providers): HTTPS trusting only the bundled roots, plain HTTP too
/// (an `http://` endpoint on loopback, the ECS and EC2 credential endpoints).
pub fn https_client() -> SharedHttpClient {
    https_client_trusting(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[test]
    fn the_bundled_roots_are_mozillas_and_include_the_ones_aws_endpoints_chain_to() {
        let roots = BUNDLED_ROOTS;
        assert!(roots.len() > 100, "only {} roots", roots.len());
        // S3's certificates chain to Amazon Root CA 1 (older chains: Starfield Services G2).
        for name in [
            &b"Amazon Root CA 1"[..],
            b"Amazon Root CA 3",
            b"Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                roots.iter().any(|root| contains(root, name)),
                "{} is not bundled",
                String::from_utf8_lossy(name)
            );
        }
        // The PEM handed to the SDK decodes back to the same certificates, and rustls takes
        // every one of them as a trust anchor.
        let pem = bundled_roots_pem();
        let decoded: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(decoded, roots);
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(decoded);
        assert_eq!((valid, invalid), (roots.len(), 0));
    }

    /// An HTTPS server on loopback with a certificate for `localhost` issued by a fresh CA:
    /// answers every request `200 OK` with an empty body and counts the completed handshakes.
    struct TlsServer {
        port: u16,
        ca_pem: String,
        handshakes: Arc<AtomicUsize>,
    }

    async fn tls_server() -> TlsServer {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pipeline test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&handshakes);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut request = Vec::new();
                    let mut buffer = [0; 4096];
                    while !contains(&request, b"\r\n\r\n") {
                        match tls.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let response = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\
                                    x-amz-bucket-region: us-east-1\r\nconnection: close\r\n\r\n";
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsServer {
            port,
            ca_pem: ca.pem(),
            handshakes,
        }
    }

    fn client(http_client: SharedHttpClient, port: u16) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http_client)
            .endpoint_url(format!("https://localhost:{port}"))
            .force_path_style(true)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The full error chain, as text.
    fn chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(next) = source {
            text.push_str(": ");
            text.push_str(&next.to_string());
            source = next.source();
        }
        text
    }

    #[tokio::test]
    async fn the_client_verifies_servers_against_the_bundled_roots_only() {
        let server = tls_server().await;
        // A CA that is not bundled: the handshake fails on the certificate.
        let error = client(https_client(), server.port)
            .head_bucket()
            .bucket("uploads")
            .send()
            .await
            .unwrap_err();
        let text = chain(&error);
        assert!(
            text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
            "{text}"
        );
        assert_eq!(server.handshakes.load(Ordering::SeqCst), 0);
        // The same client trusting that CA too: the handshake and the request succeed, so
        // the trust store is what the TLS connector verifies with.
        client(
            https_client_trusting(Some(server.ca_pem.as_bytes())),
            server.port,
        )
        .head_bucket()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
        assert_eq!(server.handshakes.load(Ordering::SeqCst), 1);
    }
}
