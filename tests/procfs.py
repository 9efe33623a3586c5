"""The live processes of this machine, read from /proc (Linux): for tests of what a run leaves behind."""
import os
from typing import Iterator, NamedTuple


class Process(NamedTuple):
    pid: int
    state: str  # "Z": a zombie, exited and waiting to be reaped
    ppid: int
    pgrp: int


def processes() -> Iterator[Process]:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except OSError:  # exited meanwhile
            continue
        yield Process(int(pid), fields[0], int(fields[1]), int(fields[2]))


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as fh:
            return fh.read().replace("\0", " ")
    except OSError:
        return ""
