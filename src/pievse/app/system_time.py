"""Whether the system clock can be trusted: a Raspberry Pi has no real-time clock, so until
network time is set it boots at the time it last saved (or 1970), and every timestamp sent to
the CSMS would be wrong.

The kernel says so itself: ``adjtimex`` (read-only, with no modes set) reports ``STA_UNSYNC``
until a time daemon (systemd-timesyncd, chrony, ntpd) has disciplined the clock, and answers
``TIME_ERROR`` then.
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["system_clock_synchronised"]

log = logging.getLogger("pievse.clock")

#: <linux/timex.h>: the clock is not synchronised; adjtimex's answer then.
STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex up to ``status``; the kernel's struct is larger, so room is left after it.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("_rest", ctypes.c_byte * 256)]


def system_clock_synchronised() -> bool:
    """False when the kernel says the system clock is not synchronised; True when it is, and
    where it cannot be asked (not Linux): then the system clock is taken as it is."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        # The process's own symbols, libc's among them: no search for the library (which
        # would run ldconfig and import more at every start).
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError) as error:
        log.debug("cannot ask the kernel whether the clock is synchronised: %s", error)
        return True
    if state < 0:
        return True
    return state != TIME_ERROR and not timex.status & STA_UNSYNC
