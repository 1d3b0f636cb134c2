"""HAProxy's log lines read from its rings: the log-format compiler and the ring headers."""
