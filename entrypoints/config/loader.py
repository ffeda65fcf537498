"""Settings from a TOML file, the environment and the command line, checked before anything runs.

Precedence, lowest first: the defaults in `Settings` (and its sections), the config file
(`--config FILE`, or `WEBQUEUE_CONFIG`), the environment variables in `ENVIRONMENT` (secrets and
URLs, which do not belong in a file under version control), then the flags given on the command
line. The file is read with the standard library's `tomllib`.

The loader knows no section by name: it walks `Settings`' attrs fields (a field whose type is an
attrs class is a table) and their type hints, so a capability that adds a section to `Settings`
is read, validated and shown without a change here. Whatever it refuses is named by its dotted
key and the value given, and the service does not start: an unknown key (a typo would otherwise
be silently ignored), a value of the wrong type, a number below zero or a field's own validator.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs

from entrypoints.config.settings import Settings

T = TypeVar("T")

#: Environment variable -> dotted key. Only secrets and URLs: everything else goes in the file.
ENVIRONMENT: dict[str, str] = {
    "WEBQUEUE_NATS_URL": "nats_url",
    "WEBQUEUE_DB_URL": "db_url",
    "WEBQUEUE_ADMINS": "identity.admins",
    "WEBQUEUE_MEDIACMS_URL": "catalog.mediacms_url",
    "WEBQUEUE_MEDIACMS_TOKEN": "catalog.mediacms_token",
}
#: Variables that hold a comma-separated list.
LIST_ENVIRONMENT = frozenset({"WEBQUEUE_ADMINS"})
CONFIG_ENV = "WEBQUEUE_CONFIG"


class ConfigError(ValueError):
    """A setting the service refuses to start with; `key` is dotted, `value` as given."""

    def __init__(self, key: str, value: Any, reason: str, *, origin: str | None = None) -> None:
        self.key, self.value, self.reason, self.origin = key, value, reason, origin
        where = f"{origin}: " if origin else ""
        shown = "" if value is _MISSING else f" = {value!r}"
        super().__init__(f"{where}{key}{shown}: {reason}")


_MISSING: Any = object()


# ---- reading --------------------------------------------------------------------------------


def read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("--config", str(path), "no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(path), f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError("--config", str(path), f"cannot be read: {exc}") from None


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment gives, as a nested table like the file's."""
    table: dict[str, Any] = {}
    for variable, key in ENVIRONMENT.items():
        value = env.get(variable)
        if value and variable in LIST_ENVIRONMENT:
            _put(table, key, [item.strip() for item in value.split(",") if item.strip()])
        elif value:
            _put(table, key, value)
    return table


def _put(table: dict[str, Any], dotted: str, value: Any) -> None:
    *sections, name = dotted.split(".")
    for section in sections:
        table = table.setdefault(section, {})
    table[name] = value


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win, key by key, section by section."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            elif isinstance(value, Mapping):
                merged[key] = merge(value)
            else:
                merged[key] = value
    return merged


def load(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """The effective settings, or ConfigError naming the first bad key."""
    env = {} if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    origin = str(path) if path is not None else None
    layers = [read_file(path) if path is not None else {}, from_environment(env), dict(flags or {})]
    raw = merge(*layers)
    _derive(raw)
    try:
        return structure(Settings, raw)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.value, exc.reason, origin=origin) from None


def _derive(raw: dict[str, Any]) -> None:
    """Defaults that follow from other settings: a NATS URL means the real ecosystem."""
    if raw.get("nats_url"):
        raw.setdefault("cytube", "kryten")
        raw.setdefault("economy", "kryten")


# ---- structuring ----------------------------------------------------------------------------


def structure(cls: type[T], data: Any, prefix: str = "") -> T:
    """An attrs instance of `cls` from a TOML table; every key optional, none unknown."""
    if not isinstance(data, Mapping):
        raise ConfigError(prefix.rstrip(".") or "(top level)", data, "must be a table")
    fields = {f.name: f for f in attrs.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(key, value, f"unknown key; known here: {known}")
        kwargs[name] = _convert(hints[name], _over_default(fields[name], value), key)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise _blame(cls, kwargs, data, prefix, exc) from None


def _over_default(f: attrs.Attribute[Any], value: Any) -> Any:
    """A table of entries (promo types) given in part keeps the default entries it leaves
    out, and each entry given in part keeps the default's other keys."""
    factory = getattr(f.default, "factory", None)
    if not isinstance(value, Mapping) or factory is None or f.default.takes_self:  # type: ignore[union-attr]
        return value
    default = factory()
    if not isinstance(default, Mapping):
        return value
    merged = {str(k): unstructure(v, mask=False) for k, v in default.items()}
    for k, v in value.items():
        base = merged.get(k)
        merged[k] = merge(base, v) if isinstance(base, dict) and isinstance(v, Mapping) else v
    return merged


def _blame(
    cls: type[Any], kwargs: dict[str, Any], data: Mapping[str, Any], prefix: str, exc: Exception
) -> ConfigError:
    """Which key a validator refused: the one that fails on its own, else the section."""
    for name, value in kwargs.items():
        try:
            cls(**{name: value})
        except (ValueError, TypeError) as alone:
            inner = getattr(alone, "field", None)
            if inner:  # the section's own check named the key inside it
                given = _dig(data[name], inner.split("."))
                return ConfigError(f"{prefix}{name}.{inner}", given, _reason(alone))
            return ConfigError(f"{prefix}{name}", data[name], _reason(alone))
    return ConfigError(prefix.rstrip(".") or "(top level)", _MISSING, _reason(exc))


def _dig(table: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(table, Mapping) or part not in table:
            return _MISSING
        table = table[part]
    return table


def _reason(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text or type(exc).__name__


def _hints(cls: type[Any]) -> dict[str, Any]:
    import sys

    module = sys.modules[cls.__module__]
    return typing.get_type_hints(cls, vars(module))


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(key, value, f"must be one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, key)
            except ConfigError as exc:
                errors.append(exc.reason)
        raise ConfigError(key, value, " or ".join(errors))
    if attrs.has(tp):
        return structure(tp, value, f"{key}.")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, value, "must be a whole number")
        return _not_negative(value, key)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, value, "must be a number")
        if not math.isfinite(value):
            raise ConfigError(key, value, "must be a finite number")
        return float(_not_negative(value, key))
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, value, "must be a string")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(key, value, "must be a path (a string)")
        return Path(value)
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(key, value, "must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(key, value, f"must be a list of {len(args)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in pairs)
    if origin in (frozenset, set):
        (arg,) = get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(key, value, "must be a list")
        return frozenset(_convert(arg, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp is dict:
        args = get_args(tp) or (str, Any)
        if not isinstance(value, Mapping):
            raise ConfigError(key, value, "must be a table")
        return {
            _convert(args[0], k, f"{key}.{k}"): _convert(args[1], v, f"{key}.{k}")
            for k, v in value.items()
        }
    raise ConfigError(key, value, f"cannot be set from a config file ({tp!r})")


def _not_negative(value: float, key: str) -> float:
    """No setting of the service means anything below zero."""
    if value < 0:
        raise ConfigError(key, value, "must be zero or more")
    return value


# ---- showing --------------------------------------------------------------------------------

MASK = "********"
_SECRET_WORDS = ("password", "secret", "token", "creds", "credential", "private_key")


def unstructure(obj: Any, *, mask: bool = True) -> Any:
    """A TOML-ready table of an attrs instance: paths as strings, None left out, secrets and
    the passwords in URLs masked."""
    if attrs.has(type(obj)):
        out: dict[str, Any] = {}
        for f in attrs.fields(type(obj)):
            value = getattr(obj, f.name)
            if value is None:
                continue
            if mask and (f.metadata.get("secret") or any(w in f.name for w in _SECRET_WORDS)):
                out[f.name] = MASK
            elif mask and f.metadata.get("url") and isinstance(value, str):
                out[f.name] = mask_url(value)
            else:
                out[f.name] = unstructure(value, mask=mask)
        return out
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple | list):
        return [unstructure(v, mask=mask) for v in obj]
    if isinstance(obj, frozenset | set):
        return sorted(unstructure(v, mask=mask) for v in obj)
    if isinstance(obj, Mapping):
        return {str(k): unstructure(v, mask=mask) for k, v in obj.items()}
    return obj


def mask_url(url: str) -> str:
    """`nats://user:pw@host` -> `nats://user:********@host`, and a bare token
    (`nats://token@host`, NATS token auth) -> `nats://********@host`; no userinfo, as is.
    A cluster's comma-separated seeds are masked one by one."""
    if "," in url:
        return ",".join(mask_url(part) for part in url.split(","))
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{user + ':' + MASK if colon else MASK}@{host}"
