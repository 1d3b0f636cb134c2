"""``show proc`` on a master CLI: the master and its workers, current and old."""
