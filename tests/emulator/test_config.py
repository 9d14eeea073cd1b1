"""EmulatorConfig: NetSuite's defaults, validated fault rates, runtime updates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from certrotor.emulator.config import FAULT_FIELDS, EmulatorConfig


class TestEmulatorConfig:
    def test_defaults_follow_netsuite(self) -> None:
        """Five active certificates, no per-combination cap, 60 s tolerance, 3600 s tokens, no faults."""
        config = EmulatorConfig()
        assert config.max_active_per_integration == 5
        assert config.max_active_per_combination is None
        assert (config.clock_tolerance_seconds, config.token_lifetime_seconds) == (60, 3600)
        assert not config.faults_enabled

    def test_rates_of_one_phase_must_fit_in_one(self) -> None:
        """error_rate + rate_limit_rate + drop_rate may not exceed 1."""
        with pytest.raises(ValidationError, match="add up to at most 1"):
            EmulatorConfig(error_rate=0.5, drop_rate=0.6)

    def test_updated_validates_and_refuses_unknown_names(self) -> None:
        """updated() returns a validated copy and refuses unknown settings."""
        config = EmulatorConfig()
        assert config.updated(error_rate=0.5).error_rate == 0.5
        assert config.error_rate == 0.0
        with pytest.raises(ValidationError):
            config.updated(colour="red")

    def test_faults_view_has_only_fault_fields(self) -> None:
        """faults() shows exactly the fault settings."""
        assert set(EmulatorConfig().faults()) == FAULT_FIELDS
