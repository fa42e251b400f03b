"""The pure domain: money, entities, ports and services. No I/O libraries are imported here."""

from domain.errors import DomainError
from domain.money import Money
from domain.simulator import CheckReport, Simulator

__all__ = ["CheckReport", "DomainError", "Money", "Simulator"]
