"""Names and help of the maps and ACLs families (promex has none for them).  Data only.

File-backed lists (``-f file``, ``map(file)``, ``virt@name`` and ``opt@file`` on 3.x) are one
series each, labelled ``file``: the file is what an operator knows and edits, and it stays the
same across reloads while HAProxy's ids are renumbered by any config change.  Patterns written
inline in ``acl`` lines have no file: one list per line (thousands in a large config, and
HAProxy's own, such as httpclient's), so they are added up into one series, not one per id.
"""

from __future__ import annotations

from exporter.exposition.families import GLOBAL

SCOPE = GLOBAL  # promex has no maps scope: with the process-wide figures

LABEL = "file"

MAP_ENTRIES = ("haproxy_map_entries",
               "Entries of the map loaded from this file (show map entry_cnt; includes entries added "
               "by a transaction not yet committed)")
ACL_ENTRIES = ("haproxy_acl_entries",
               "Entries of the ACL pattern file (show acl entry_cnt; includes entries added by a "
               "transaction not yet committed)")
INLINE_LISTS = ("haproxy_acl_inline_lists",
                "ACL pattern lists written inline in the configuration (no file), HAProxy's own included")
INLINE_ENTRIES = ("haproxy_acl_inline_entries",
                  "Entries of all ACL pattern lists written inline in the configuration, added up")
