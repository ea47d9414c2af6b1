"""Generated testnets and fault schedules, shrinking to a scenario file, coverage.

The pure parts (``generate``, ``shrink``, ``coverage``, ``tomlout``) take values and give
values; ``explorer`` is the shell that runs them through the scenario runner and checkers.
"""
