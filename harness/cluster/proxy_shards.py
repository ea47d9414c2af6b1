"""How a local testnet's links are split over proxy servers.

A proxy server holds three open files per link once it is connected (its listener, the
accepted connection and the one upstream), and a process may hold only as many files as
its hard limit allows (``ulimit -Hn``, which only a privileged process raises): 128
validators are 16,256 links, about 49,000 files, where a hard limit of 20,000 is common
in containers. So a testnet whose links need more files than one server may hold gets as
many servers as it takes, each with a contiguous share of the links; the manifest records
each server's port, and every link's server follows from its place in the manifest.
"""

from __future__ import annotations

import resource

#: Open files a server holds besides its links: the API, its log, the runtime's own.
FILES_SPARE = 256


def open_files_needed(links: int) -> int:
    """Open files a server with ``links`` proxies holds when every link is connected."""
    return 3 * links + FILES_SPARE


def hard_open_files() -> int | None:
    """This machine's hard limit on open files per process; None when unlimited."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return None if hard == resource.RLIM_INFINITY else hard


def servers_needed(links: int, hard_limit: int | None) -> int:
    """The fewest servers among which ``links`` proxies fit under ``hard_limit`` files each
    (None: unlimited)."""
    if links == 0:
        return 0
    if hard_limit is None or open_files_needed(links) <= hard_limit:
        return 1
    per_server = max(1, (hard_limit - FILES_SPARE) // 3)
    return -(-links // per_server)


def server_of(index: int, links: int, servers: int) -> int:
    """The server holding the link at ``index`` of ``links``: contiguous, balanced shares."""
    return index * servers // links
