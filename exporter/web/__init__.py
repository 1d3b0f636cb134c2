"""The HTTP side: serves prepared bytes, with TLS and basic auth from --web.config.file."""
