//! Privacy groups.
