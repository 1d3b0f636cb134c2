"""``show stat``: frontends, backends, servers and listeners under promex's names."""
