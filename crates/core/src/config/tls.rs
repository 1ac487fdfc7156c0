//! The TLS settings (docs/tls.md): which listeners speak TLS, the certificate they present,
//! and how the proxy itself connects to Redis nodes and Sentinels over TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

/// How the certificate of a Redis node or Sentinel is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// The chain up to a configured CA, and the name: the node's IP address, or
    /// `upstream_tls_server_name`.
    Full,
    /// The chain only, whatever name the certificate is for (node certificates without IP
    /// SANs, the usual case in the redis-ha chart).
    Ca,
    /// Nothing (HAProxy's `verify none`): encryption without authentication.
    None,
}

impl Verify {
    pub fn parse(key: &str, s: &str) -> Result<Verify, ConfigError> {
        match s.trim() {
            "full" => Ok(Verify::Full),
            "ca" => Ok(Verify::Ca),
            "none" => Ok(Verify::None),
            other => Err(ConfigError::invalid(
                key,
                format!(
                    "'{other}' is not a verification mode; use full (CA and name), ca (CA only) \
                     or none"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verify::Full => "full",
            Verify::Ca => "ca",
            Verify::None => "none",
        }
    }
}

/// Every TLS key, validated one by one; [`TlsSettings::check`] judges them together.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// The master listener (`listen`) speaks TLS.
    pub listen_tls: bool,
    /// The replica listener (`replica_listen`) speaks TLS.
    pub replica_listen_tls: bool,
    /// A TLS master listener beside the plain one.
    pub tls_listen: Option<SocketAddr>,
    /// A TLS replica listener beside the plain one.
    pub tls_replica_listen: Option<SocketAddr>,
    /// PEM with the certificate chain, and the key unless `key_file` is set.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Clients must present a certificate signed by one of these CAs (mTLS).
    pub client_ca_file: Option<PathBuf>,
    /// TLS to the Redis nodes.
    pub upstream: bool,
    /// The port every node serves TLS on, when Sentinel announces another (the plain one).
    pub upstream_port: Option<u16>,
    pub upstream_ca_file: Option<PathBuf>,
    pub upstream_cert_file: Option<PathBuf>,
    pub upstream_key_file: Option<PathBuf>,
    pub upstream_verify: Verify,
    pub upstream_server_name: Option<String>,
    /// TLS to the Sentinels, with the upstream_tls_* CA, certificate and verification.
    pub sentinel: bool,
    /// How often the certificate files are read again.
    pub reload_interval: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            listen_tls: false,
            replica_listen_tls: false,
            tls_listen: None,
            tls_replica_listen: None,
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            upstream: false,
            upstream_port: None,
            upstream_ca_file: None,
            upstream_cert_file: None,
            upstream_key_file: None,
            upstream_verify: Verify::Full,
            upstream_server_name: None,
            sentinel: false,
            reload_interval: Duration::from_secs(10),
        }
    }
}

impl TlsSettings {
    /// Does any client listener speak TLS?
    pub fn serves_tls(&self) -> bool {
        self.listen_tls
            || self.replica_listen_tls
            || self.tls_listen.is_some()
            || self.tls_replica_listen.is_some()
    }

    /// Does the proxy connect to anything over TLS?
    pub fn dials_tls(&self) -> bool {
        self.upstream || self.sentinel
    }

    /// The settings as a whole: what a TLS listener or connection needs is there, and
    /// nothing is set that would silently do nothing.
    pub fn check(&self, replica_listen: Option<SocketAddr>) -> Result<(), ConfigError> {
        if self.serves_tls() && self.cert_file.is_none() {
            return Err(ConfigError::invalid(
                "tls_cert_file",
                "a listener speaks TLS, so it needs a certificate: set tls_cert_file to a PEM \
                 file with the certificate chain and the key (or the key in tls_key_file)",
            ));
        }
        if !self.serves_tls() {
            for (key, set) in [
                ("tls_cert_file", self.cert_file.is_some()),
                ("tls_key_file", self.key_file.is_some()),
                ("tls_client_ca_file", self.client_ca_file.is_some()),
            ] {
                if set {
                    return Err(ConfigError::invalid(
                        key,
                        "is set but no listener speaks TLS; set listen_tls = true (or \
                         tls_listen) to use it, or remove it",
                    ));
                }
            }
        }
        if self.replica_listen_tls && replica_listen.is_none() {
            return Err(ConfigError::invalid(
                "replica_listen_tls",
                "there is no replica listener; set replica_listen, or use tls_replica_listen",
            ));
        }
        if self.dials_tls() {
            if self.upstream_verify != Verify::None && self.upstream_ca_file.is_none() {
                return Err(ConfigError::invalid(
                    "upstream_tls_ca_file",
                    format!(
                        "upstream_tls_verify = {} checks the certificates of Redis and \
                         Sentinel against a CA: set upstream_tls_ca_file to the CA's PEM, or \
                         upstream_tls_verify = none to skip the check",
                        self.upstream_verify.as_str()
                    ),
                ));
            }
            if self.upstream_key_file.is_some() && self.upstream_cert_file.is_none() {
                return Err(ConfigError::invalid(
                    "upstream_tls_key_file",
                    "is set without upstream_tls_cert_file (the certificate it belongs to)",
                ));
            }
        } else {
            for (key, set) in [
                ("upstream_tls_port", self.upstream_port.is_some()),
                ("upstream_tls_ca_file", self.upstream_ca_file.is_some()),
                ("upstream_tls_cert_file", self.upstream_cert_file.is_some()),
                ("upstream_tls_key_file", self.upstream_key_file.is_some()),
                (
                    "upstream_tls_server_name",
                    self.upstream_server_name.is_some(),
                ),
            ] {
                if set {
                    return Err(ConfigError::invalid(
                        key,
                        "is set but neither upstream_tls nor sentinel_tls is on; set \
                         upstream_tls = true (Redis over TLS) or sentinel_tls = true",
                    ));
                }
            }
        }
        if self.upstream_port.is_some() && !self.upstream {
            return Err(ConfigError::invalid(
                "upstream_tls_port",
                "maps the nodes' ports for TLS connections, but upstream_tls is off",
            ));
        }
        if self.key_file.is_some() && self.cert_file.is_none() {
            return Err(ConfigError::invalid(
                "tls_key_file",
                "is set without tls_cert_file (the certificate it belongs to)",
            ));
        }
        Ok(())
    }
}

/// A path setting: empty means unset.
pub(super) fn path(s: Option<String>) -> Option<PathBuf> {
    s.map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}
