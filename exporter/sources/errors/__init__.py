"""``show errors``: the protocol errors HAProxy captured, last one per proxy and direction."""
