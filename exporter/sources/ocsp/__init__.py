"""``show ssl ocsp-response``: the OCSP responses HAProxy staples, their status and validity."""
