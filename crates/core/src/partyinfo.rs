//! PartyInfo.
