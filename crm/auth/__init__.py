"""Authentication hardening: sign-in lockout, session limits and multi-factor sign-in."""
