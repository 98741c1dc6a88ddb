// Tests for ATIdentity live in this target.
