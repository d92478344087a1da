"""`nmrstake serve` under cProfile in every thread, timed by each thread's CPU clock: where a
replica's CPU goes (bench/service.py --profile runs its replicas through this).

    python bench/profile_serve.py OUT.pstats serve [serve's options...]

The uploads are checked and stored in the thread pool (run_in_threadpool), so the event loop's
thread alone would miss them: every thread started after this script gets its own profiler
(threading.setprofile), and at exit (SIGTERM: uvicorn shuts down and returns) all of them are
merged into OUT.pstats. Read it with `python -m pstats OUT.pstats` (sort tottime / cumtime).
cProfile slows the process by about a half: compare the shares, not the seconds, with a run
without it.
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import sys
import threading
import time
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_thread_profile(frame: Any, event: str, arg: Any) -> None:
    """The first profile event of a new thread: from here on, its own profiler."""
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    sys.setprofile(None)
    profile.enable()


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    sys.argv = ["nmrstake", *sys.argv[2:]]
    threading.setprofile(_start_thread_profile)
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    code = 0
    try:
        runpy.run_module("nmrstake.cli", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        main_profile.disable()
        stats = pstats.Stats(main_profile)
        with _lock:
            for profile in _profiles:
                try:
                    profile.create_stats()
                    stats.add(profile)
                except Exception as exc:  # noqa: BLE001 - a thread's profile that cannot be read is left out
                    print(f"profile_serve: a thread's profile left out ({exc})", file=sys.stderr)
        stats.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
