"""The security suite reuses the reliability suite's bridge-in-front-of-a-faulty-engine fixture."""

from tests.reliability.conftest import faulty_rig

__all__ = ["faulty_rig"]
