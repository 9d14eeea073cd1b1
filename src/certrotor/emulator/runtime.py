"""What a running emulator shares between requests: state, token issuer, live config and fault dice."""

from __future__ import annotations

import enum
import random
import threading
from collections import Counter
from typing import Any

from certrotor.emulator.config import FAULT_FIELDS, EmulatorConfig
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tokens import TokenIssuer


class Fault(enum.StrEnum):
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    DROP = "drop"
    SLOW = "slow"
    AFTER_COMMIT_ERROR = "after_commit_error"
    AFTER_COMMIT_DROP = "after_commit_drop"


class EmulatorRuntime:
    """One per app; the config may be swapped at runtime through the admin API."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.issuer = TokenIssuer(state)
        self._config = config
        self._lock = threading.Lock()
        self._dice = random.Random(config.fault_seed)
        self._faults_injected: Counter[str] = Counter()

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def update_config(self, **changes: Any) -> EmulatorConfig:
        """Apply validated changes; a new ``fault_seed`` restarts the dice."""
        with self._lock:
            updated = self._config.updated(**changes)
            if "fault_seed" in changes:
                self._dice = random.Random(updated.fault_seed)
            self._config = updated
            return updated

    def update_faults(self, **changes: Any) -> EmulatorConfig:
        unknown = sorted(set(changes) - FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        return self.update_config(**changes)

    def faults_injected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults_injected)

    def _budget_left(self) -> bool:
        limit = self._config.max_faults
        return limit is None or sum(self._faults_injected.values()) < limit

    def _strike(self, fault: Fault) -> Fault:
        self._faults_injected[fault.value] += 1
        return fault

    def roll_slow(self) -> float:
        """Seconds to delay this request (0 for none)."""
        with self._lock:
            config = self._config
            if config.slow_seconds <= 0 or not self._budget_left():
                return 0.0
            if self._dice.random() < config.slow_rate:
                self._strike(Fault.SLOW)
                return config.slow_seconds
            return 0.0

    def roll_before(self) -> Fault | None:
        """The fault that strikes before the request is handled, if any."""
        with self._lock:
            config = self._config
            if not self._budget_left():
                return None
            roll = self._dice.random()
            for fault, rate in (
                (Fault.ERROR, config.error_rate),
                (Fault.RATE_LIMIT, config.rate_limit_rate),
                (Fault.DROP, config.drop_rate),
            ):
                if roll < rate:
                    return self._strike(fault)
                roll -= rate
            return None

    def roll_after_commit(self) -> Fault | None:
        """The fault that hides the answer of a stored upload or revoke, if any."""
        with self._lock:
            config = self._config
            if not self._budget_left():
                return None
            roll = self._dice.random()
            if roll < config.after_commit_error_rate:
                return self._strike(Fault.AFTER_COMMIT_ERROR)
            if roll < config.after_commit_error_rate + config.after_commit_drop_rate:
                return self._strike(Fault.AFTER_COMMIT_DROP)
            return None

    def counters(self) -> dict[str, Any]:
        """Stored counters plus the faults injected by this process."""
        counters = self.state.counters.all()
        injected = self.faults_injected()
        counters["faults"] = injected
        counters["faults_total"] = sum(injected.values())
        return counters
