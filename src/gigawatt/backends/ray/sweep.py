"""Finding Gigawatt placement groups the control plane no longer knows about."""

from __future__ import annotations

from collections.abc import Iterator

from ray.util.placement_group import placement_group_table

from gigawatt.backends.ray.placement import parse_group_name


def orphan_groups(keep: set[tuple[str, int]]) -> Iterator[tuple[str, str, int, int]]:
    """``(name, job_id, attempt, bundles)`` of each live Gigawatt placement group whose
    ``(job_id, attempt)`` is not in ``keep`` (names are looked up in the caller's namespace)."""
    for entry in placement_group_table().values():
        if entry.get("state") == "REMOVED":
            continue
        name = str(entry.get("name") or "")
        parsed = parse_group_name(name)
        if parsed is None or parsed in keep:
            continue
        yield name, parsed[0], parsed[1], len(entry.get("bundles") or {})
