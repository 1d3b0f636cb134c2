"""The Runtime API client: addresses, the socket exchange and its allowlist, HAProxy's error texts."""
