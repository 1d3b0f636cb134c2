"""``show map`` and ``show acl``: the number of entries of every map and ACL pattern list."""
