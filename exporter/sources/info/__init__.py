"""``show info``: the process-wide figures under ``haproxy_process_*``."""
