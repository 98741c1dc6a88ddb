// Tests for ATRepo live in this target (one file per type under test).
