"""Names of the certificate series.  promex has none; these follow its style (``haproxy_`` and the
Runtime API's own word, ``ssl``) and Prometheus's (``_timestamp_seconds`` for a point in time, as
node_exporter's and the blackbox exporter's certificate expiry).  Data only.
"""

from __future__ import annotations

from exporter.exposition.families import GLOBAL

SCOPE = GLOBAL  # promex has no certificates scope: with the process-wide figures

PREFIX = "haproxy_ssl_certificate_"
FILE_LABEL = "file"

NOT_AFTER = (PREFIX + "not_after_timestamp_seconds",
             "End of the certificate's validity (notAfter), as a Unix timestamp (show ssl cert <file>)")
NOT_BEFORE = (PREFIX + "not_before_timestamp_seconds",
              "Start of the certificate's validity (notBefore), as a Unix timestamp (show ssl cert <file>)")
USED = (PREFIX + "used", "1 if HAProxy uses the certificate (Status: Used), else 0 (show ssl cert <file>)")
INFO = (PREFIX + "info", "The certificate's identity; always 1 (show ssl cert <file>; long values are cut short)")

# info label → Certificate attribute, in the order they are written
INFO_LABELS = (("serial", "serial"), ("subject", "subject"), ("issuer", "issuer"), ("san", "san"),
               ("algorithm", "algorithm"), ("sha1", "sha1"))
# A label value longer than this is cut (with "…"); subject alternative names are cut at a name,
# with how many more there were ("…+12"), so a certificate for 500 names stays one short series.
MAX_LABEL_CHARS = 256
