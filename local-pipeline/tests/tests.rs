//! The local pipeline's tests, in one binary.
