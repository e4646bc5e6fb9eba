//! Resend bodies.
