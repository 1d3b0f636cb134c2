"""``show table``: stick-table sizes for every table, entries for the tables named in the config."""
