// Tests for ATSyntax live in this target (one file per type under test).
