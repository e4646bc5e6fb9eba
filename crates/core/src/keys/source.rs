//! How a config's `keys` section becomes key pairs (filled in with the config model).
