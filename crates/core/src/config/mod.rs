//! The Tessera JSON config model.
