"""The poll: schedule, one complete snapshot per cycle, atomic swap and staleness."""
