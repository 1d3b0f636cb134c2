"""``show ssl cert``: every certificate file HAProxy has loaded, its validity dates and identity."""
