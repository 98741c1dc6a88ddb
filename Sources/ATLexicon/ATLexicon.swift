// ATLexicon placeholder header
