"""``show ssl ocsp-updates`` (HAProxy 2.8+): the state of HAProxy's automatic OCSP updater per certificate."""
