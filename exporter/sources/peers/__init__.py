"""``show peers``: the state of every stick-table replication link, per peers section and peer."""
