"""A steady load through the gateway: writers create and rename tasks, readers read from every
service. It records each write the gateway accepted, each write whose outcome is unknown (an
error: it may or may not have been applied) and each idempotent read that failed."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from support.accounts import Account, new_account


@dataclass
class Rename:
    title: str
    accepted: bool  # False: the outcome is unknown (an error or no answer)


@dataclass
class WrittenTask:
    id: int
    owner: Account
    title: str  # as created
    renames: list[Rename] = field(default_factory=list)

    def possible_titles(self) -> set[str]:
        """What the task's title may be now: the last accepted one, or one tried after it."""
        last = max((i for i, r in enumerate(self.renames) if r.accepted), default=-1)
        since = {r.title for r in self.renames[last + 1 :]}
        return since | {self.renames[last].title if last >= 0 else self.title}


@dataclass
class FailedRead:
    at: float
    path: str
    outcome: str


class Load:
    """`writers` threads writing and `readers` threads reading, each at most `rate` requests a
    second, until stopped. Reads: a task (tasks), its timeline (activity), its files (files),
    the caller (auth) and their notification preferences (notify)."""

    def __init__(self, gateway_url: str, writers: int = 2, readers: int = 3, rate: float = 10.0) -> None:
        self._url = gateway_url
        self._rate = rate
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self.tasks: list[WrittenTask] = []
        self.unknown_creates = 0
        self.failed_reads: list[FailedRead] = []
        self.reads = 0
        with httpx.Client(base_url=gateway_url, timeout=10) as http:
            self.accounts = [new_account(http) for _ in range(writers)]
        self._threads = [
            threading.Thread(target=self._loop, args=(self._write, account), daemon=True)
            for account in self.accounts
        ]
        self._threads += [
            threading.Thread(target=self._loop, args=(self._read, self.accounts[i % writers]), daemon=True)
            for i in range(readers)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def snapshot(self) -> tuple[int, int, int]:
        """(accepted creates, accepted renames, reads) so far."""
        with self._lock:
            renames = sum(r.accepted for t in self.tasks for r in t.renames)
            return len(self.tasks), renames, self.reads

    def _loop(self, step: Callable[[httpx.Client, Account], None], account: Account) -> None:
        pause = 1 / self._rate
        with httpx.Client(base_url=self._url, timeout=10) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                step(http, account)
                self._stop.wait(max(0.0, pause - (time.monotonic() - started)))

    def _own_tasks(self, account: Account) -> list[WrittenTask]:
        with self._lock:
            return [t for t in self.tasks if t.owner is account]

    def _write(self, http: httpx.Client, account: Account) -> None:
        mine = self._own_tasks(account)
        title = f"t{next(self._counter)}"
        if not mine or random.random() < 0.4:
            try:
                response = http.post("/tasks", json={"title": title}, headers=account.headers)
            except httpx.HTTPError:
                response = None
            with self._lock:
                if response is not None and response.status_code == 201:
                    self.tasks.append(WrittenTask(response.json()["id"], account, title))
                else:
                    self.unknown_creates += 1
            return
        task = random.choice(mine)
        try:
            response = http.patch(f"/tasks/{task.id}", json={"title": title}, headers=account.headers)
            accepted = response.status_code == 200
        except httpx.HTTPError:
            accepted = False
        with self._lock:  # one writer per account: a task's renames are sequential
            task.renames.append(Rename(title, accepted))

    def _read(self, http: httpx.Client, account: Account) -> None:
        mine = self._own_tasks(account)
        paths = ["/auth/me", "/notifications/preferences"]
        if mine:
            task = random.choice(mine).id
            paths += [f"/tasks/{task}", f"/activity/tasks/{task}", f"/tasks/{task}/files"]
        path = random.choice(paths)
        try:
            response = http.get(path, headers=account.headers)
            outcome = "" if response.status_code == 200 else f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.reads += 1
            if outcome:
                self.failed_reads.append(FailedRead(time.time(), path, outcome))
