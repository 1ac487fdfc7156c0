//! sentinel-proxy (skeleton)
