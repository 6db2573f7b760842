"""Small shared helpers (input validation, atomic file writes)."""
