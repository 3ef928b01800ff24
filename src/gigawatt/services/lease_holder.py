"""Who holds the control lease: a holder id per loop, and whether a holder's process died."""

from __future__ import annotations

import os
import socket
import uuid


def new_holder() -> str:
    """A lease holder id unique to this loop: ``host|pid|random``."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:12]}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` is a process of this host that no longer exists."""
    host, _, rest = holder.partition("|")
    pid_text = rest.partition("|")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
