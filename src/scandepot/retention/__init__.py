"""Retention: what waits in staging areas is deleted on a schedule, people warned first.

The areas (:mod:`.areas`) list their items; schedules (:mod:`.schedules`) say when each
is due (:mod:`.due`); the plan (:mod:`.plan`) puts them in order; the run (:mod:`.run`)
warns, then deletes what is due and not held (:mod:`.holds`). The archive is no area:
nothing here names a path under it.
"""
