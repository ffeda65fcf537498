"""Explicit parameter kinds for handlers (Litestar is retiring inferred ones)."""

from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import FromPath

from entrypoints.services import Services

ServicesDep = NamedDependency[Services]
Channel = FromPath[str]
Uid = FromPath[int]
UserName = FromPath[str]
PathRequestId = FromPath[str]
PathText = FromPath[str]
PathInt = FromPath[int]
