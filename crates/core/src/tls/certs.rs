//! Reading certificate, key and CA files into rustls configurations.

use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::config::{TlsSettings, Verify};

/// Why a certificate, key or CA could not be used. Each names the file and the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} {path}: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{key} {path}: {message}")]
    Invalid {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{what}: {source}")]
    Rustls {
        what: &'static str,
        source: rustls::Error,
    },
}

/// A configuration built from files, with what the metrics show about it.
pub struct Loaded<T> {
    pub config: Arc<T>,
    /// The contents it was built from, to tell when the files change.
    pub fingerprint: u64,
    /// notAfter (Unix seconds) by the `cert` label of the expiry gauge.
    pub expiries: Vec<(&'static str, i64)>,
}

/// ring's provider. rustls deprecates it for lacking post-quantum key exchange (clients that
/// offer X25519MLKEM768 agree on X25519 instead); aws-lc-rs has it but needs cmake and a long
/// C build on every machine that builds the proxy.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The files one configuration is read from, with the key each comes from.
struct Files(Vec<(&'static str, PathBuf, Vec<u8>)>);

impl Files {
    fn read(list: &[(&'static str, Option<&PathBuf>)]) -> Result<Files, TlsError> {
        let mut files = Vec::new();
        for (key, path) in list {
            let Some(path) = path else { continue };
            let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
                key,
                path: path.to_path_buf(),
                source,
            })?;
            files.push((*key, path.to_path_buf(), bytes));
        }
        Ok(Files(files))
    }

    fn get(&self, key: &str) -> Option<(&'static str, &Path, &[u8])> {
        self.0
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(k, p, b)| (*k, p.as_path(), b.as_slice()))
    }

    fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (k, _, b) in &self.0 {
            k.hash(&mut h);
            b.hash(&mut h);
        }
        h.finish()
    }
}

fn invalid(key: &'static str, path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        key,
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn certs_of(
    (key, path, bytes): (&'static str, &Path, &[u8]),
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(key, path, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            path,
            "holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)",
        ));
    }
    Ok(certs)
}

fn key_of(
    (key, path, bytes): (&'static str, &Path, &[u8]),
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        invalid(
            key,
            path,
            match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "holds no private key (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE \
                     KEY or EC PRIVATE KEY block)"
                        .to_string()
                }
                e => format!("is not a valid PEM private key: {e}"),
            },
        )
    })
}

fn roots_of(file: (&'static str, &Path, &[u8])) -> Result<(RootCertStore, i64), TlsError> {
    let (key, path, _) = file;
    let mut roots = RootCertStore::empty();
    let mut earliest = i64::MAX;
    for cert in certs_of(file)? {
        earliest = earliest.min(not_after(&cert).unwrap_or(i64::MAX));
        roots.add(cert).map_err(|e| {
            invalid(
                key,
                path,
                format!("holds a CA certificate rustls refuses: {e}"),
            )
        })?;
    }
    Ok((roots, earliest))
}

/// notAfter of a certificate, in Unix seconds.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// TLS 1.3 and 1.2.
fn versions() -> &'static [&'static rustls::SupportedProtocolVersion] {
    rustls::ALL_VERSIONS
}

fn rustls_err(what: &'static str) -> impl Fn(rustls::Error) -> TlsError {
    move |source| TlsError::Rustls { what, source }
}

/// What the TLS listeners present, and whom they let in.
pub fn server_config(s: &TlsSettings) -> Result<Loaded<ServerConfig>, TlsError> {
    let files = Files::read(&server_files(s))?;
    let cert_file = files
        .get("tls_cert_file")
        .ok_or_else(|| TlsError::Invalid {
            key: "tls_cert_file",
            path: PathBuf::new(),
            message: "is not set".into(),
        })?;
    let chain = certs_of(cert_file)?;
    let key = match files.get("tls_key_file") {
        Some(k) => key_of(k)?,
        // As HAProxy does: the key in the crt file, else in FILE.key beside it.
        None => key_of(cert_file).or_else(|e| {
            let beside = PathBuf::from(format!("{}.key", cert_file.1.display()));
            match std::fs::read(&beside) {
                Ok(bytes) => key_of(("tls_cert_file", &beside, &bytes)),
                Err(_) => Err(e),
            }
        })?,
    };
    let mut expiries = vec![("server", not_after(&chain[0]).unwrap_or(i64::MAX))];
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions())
        .map_err(rustls_err("TLS versions"))?;
    let builder = match files.get("tls_client_ca_file") {
        Some(ca) => {
            let (roots, earliest) = roots_of(ca)?;
            expiries.push(("client_ca", earliest));
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(ca.0, ca.1, format!("cannot verify clients with it: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) | rustls::Error::General(_) => invalid(
            "tls_key_file",
            files.get("tls_key_file").unwrap_or(cert_file).1,
            format!(
                "does not belong to the certificate in {}: {e}",
                cert_file.1.display()
            ),
        ),
        e => TlsError::Rustls {
            what: "the server certificate",
            source: e,
        },
    })?;
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint: files.fingerprint(),
        expiries,
    })
}

/// How the proxy connects to Redis nodes and Sentinels.
pub fn client_config(s: &TlsSettings) -> Result<Loaded<ClientConfig>, TlsError> {
    let files = Files::read(&client_files(s))?;
    let provider = provider();
    let mut expiries = Vec::new();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions())
        .map_err(rustls_err("TLS versions"))?;
    let roots = match files.get("upstream_tls_ca_file") {
        Some(ca) => {
            let (roots, earliest) = roots_of(ca)?;
            expiries.push(("upstream_ca", earliest));
            Some((Arc::new(roots), ca))
        }
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (s.upstream_verify, roots) {
        (Verify::None, _) => Arc::new(Relaxed {
            chain: None,
            provider: provider.clone(),
        }),
        (verify, Some((roots, ca))) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| invalid(ca.0, ca.1, format!("cannot verify servers with it: {e}")))?;
            if verify == Verify::Ca {
                Arc::new(Relaxed {
                    chain: Some(webpki),
                    provider: provider.clone(),
                })
            } else {
                webpki
            }
        }
        (_, None) => {
            return Err(TlsError::Invalid {
                key: "upstream_tls_ca_file",
                path: PathBuf::new(),
                message: "is not set (needed unless upstream_tls_verify = none)".into(),
            })
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match files.get("upstream_tls_cert_file") {
        Some(cert_file) => {
            let chain = certs_of(cert_file)?;
            expiries.push(("upstream_client", not_after(&chain[0]).unwrap_or(i64::MAX)));
            let key = key_of(files.get("upstream_tls_key_file").unwrap_or(cert_file))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                invalid(
                    "upstream_tls_key_file",
                    files.get("upstream_tls_key_file").unwrap_or(cert_file).1,
                    format!(
                        "does not belong to the certificate in {}: {e}",
                        cert_file.1.display()
                    ),
                )
            })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint: files.fingerprint(),
        expiries,
    })
}

/// The files the listeners' configuration is read from, by key.
pub fn server_files(s: &TlsSettings) -> FileList<'_> {
    [
        ("tls_cert_file", s.cert_file.as_ref()),
        ("tls_key_file", s.key_file.as_ref()),
        ("tls_client_ca_file", s.client_ca_file.as_ref()),
    ]
}

/// The files the upstream (and Sentinel) configuration is read from, by key.
pub fn client_files(s: &TlsSettings) -> FileList<'_> {
    [
        ("upstream_tls_ca_file", s.upstream_ca_file.as_ref()),
        ("upstream_tls_cert_file", s.upstream_cert_file.as_ref()),
        ("upstream_tls_key_file", s.upstream_key_file.as_ref()),
    ]
}

pub type FileList<'a> = [(&'static str, Option<&'a PathBuf>); 3];

/// The contents of `files`, hashed: a reload reads them and rebuilds only when this changed.
pub fn fingerprint(files: &FileList<'_>) -> Result<u64, TlsError> {
    Ok(Files::read(files)?.fingerprint())
}

/// The verifications short of `full`: `ca` (the chain must lead to the CA, any name) and
/// `none` (HAProxy's `verify none`: any certificate). The handshake signatures are checked in
/// both, so the peer holds the key of what it presented.
#[derive(Debug)]
struct Relaxed {
    /// The CA's verifier for `ca`; None for `none`.
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
