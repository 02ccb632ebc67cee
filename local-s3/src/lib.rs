//! An S3 endpoint on loopback, backed by a folder.
