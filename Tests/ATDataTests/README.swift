// Tests for ATData live in this target (one file per type under test).
