"""``show resolvers``: DNS resolution counters per resolvers section and nameserver."""
