"""Search spaces of a sweep, from the command line or a small TOML / YAML file.

One dimension per hyperparameter, in one of four forms:

    --space (command line)               file (TOML; YAML is the same mapping)
    reg=grid:1e2,1e3,1e4                 reg = {grid = [1e2, 1e3, 1e4]}
    learning_rate=loguniform:1e-7,3e-6   learning_rate = {loguniform = [1e-7, 3e-6]}
    hidden_size=choice:500,1000          hidden_size = {choice = [500, 1000]}
    epochs=10                            epochs = 10

``grid``: every value (the trials are the product of all grids); ``loguniform``:
``exp(U(log low, log high))``, drawn per trial; ``choice``: one value drawn
uniformly per trial; a bare value is fixed. With ``--num-samples K`` the grid
product is repeated K times, each time with fresh draws (Ray Tune's rule).

Every value is checked against the model's parameter (its type and range, bounded
to what a trial can run) before Ray starts, so a typo fails at once with a
``ValueError`` naming it. Files are UTF-8; in YAML, ``1e-7`` is a number, as in
TOML (PyYAML alone, following YAML 1.1, would read it as a string). No Ray import
here: the space is plain data until :func:`to_tune` hands it to Ray Tune.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from scratch_numpy.validation import check_int, check_real

KINDS = ("grid", "choice", "loguniform", "fixed")


@dataclass(frozen=True)
class Param:
    """A tunable hyperparameter: its type ("real", "int", "bool", "str") and its check,
    ``check(value, name) -> value`` raising ``ValueError``."""

    type: str
    check: Callable[[Any, str], Any]


def real(low=None, high=None, low_open=False, high_open=False) -> Param:
    return Param("real", lambda v, name: check_real(v, name, low, high, low_open, high_open))


def integer(minimum: int = 1, maximum: int | None = None) -> Param:
    return Param("int", lambda v, name: check_int(v, name, minimum, maximum))


def _check_flag(value, name):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


FLAG = Param("bool", _check_flag)


def one_of(*options: str) -> Param:
    def check(value, name):
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    return Param("str", check)


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter's dimension: ``kind`` in KINDS and its ``values``
    (grid/choice: the values; loguniform: (low, high); fixed: (value,))."""

    kind: str
    values: tuple

    def to_json(self) -> dict:
        return {"kind": self.kind, "values": list(self.values)}


def _parse_text(text: str, param: Param, name: str):
    """One command-line value as the parameter's type."""
    text = text.strip()
    try:
        if param.type == "real":
            return float(text)
        if param.type == "int":
            return int(text)
    except ValueError:
        kind = "a number" if param.type == "real" else "an integer"
        raise ValueError(f"{name}: {text!r} is not {kind}") from None
    if param.type == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{name}: {text!r} is not true or false")
        return text.lower() == "true"
    return text


def check_dimension(name: str, dim: Dimension, params: dict[str, Param]) -> Dimension:
    """``dim`` with every value checked by the parameter ``name`` of ``params``."""
    if name not in params:
        raise ValueError(f"unknown hyperparameter {name!r}; this model tunes "
                         f"{', '.join(sorted(params))}")
    if dim.kind not in KINDS:
        raise ValueError(f"{name}: unknown kind {dim.kind!r}; choose one of {', '.join(KINDS)}")
    param = params[name]
    values = tuple(param.check(v, name) for v in dim.values)
    if not values:
        raise ValueError(f"{name}: {dim.kind} needs at least one value")
    if dim.kind == "fixed" and len(values) != 1:
        raise ValueError(f"{name}: a fixed value is one value, got {len(values)}")
    if dim.kind == "loguniform":
        if param.type != "real":
            raise ValueError(f"{name}: loguniform needs a real-valued parameter; "
                             "use grid or choice")
        if len(values) != 2 or not 0 < values[0] < values[1]:
            raise ValueError(f"{name}: loguniform needs two bounds 0 < low < high, got {values}")
    return Dimension(dim.kind, values)


def parse_option(text: str, params: dict[str, Param]) -> tuple[str, Dimension]:
    """``name=kind:v1,v2`` or ``name=value`` (see the module docstring)."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise ValueError(f"--space {text!r}: expected name=kind:values or name=value")
    if name not in params:  # before the values, whose parsing needs the parameter's type
        check_dimension(name, Dimension("fixed", ()), params)
    kind, colon, rest = spec.partition(":")
    if colon and kind.strip() in KINDS:
        values = [_parse_text(v, params[name], name) for v in rest.split(",") if v.strip()]
        return name, check_dimension(name, Dimension(kind.strip(), tuple(values)), params)
    value = _parse_text(spec, params[name], name)
    return name, check_dimension(name, Dimension("fixed", (value,)), params)


def from_mapping(mapping: dict, params: dict[str, Param], source: str) -> dict[str, Dimension]:
    """Dimensions from a parsed file: ``name: value`` or ``name: {kind: [values]}``."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{source}: expected a mapping of hyperparameter names, got "
                         f"{type(mapping).__name__}")
    space = {}
    for name, spec in mapping.items():
        if isinstance(spec, dict):
            if len(spec) != 1:
                raise ValueError(f"{source}: {name} needs exactly one of {', '.join(KINDS[:3])}")
            ((kind, values),) = spec.items()
            if not isinstance(values, list):
                raise ValueError(f"{source}: {name}.{kind} must be a list, got {values!r}")
            space[name] = check_dimension(name, Dimension(kind, tuple(values)), params)
        else:
            space[name] = check_dimension(name, Dimension("fixed", (spec,)), params)
    return space


# YAML 1.2 (and TOML) numbers with an exponent, which YAML 1.1 reads as strings unless they
# hold a dot and a signed exponent: 1e-7, 1e3, 1.0e3, .5e3.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


def _yaml_loads(text: str):
    """``yaml.safe_load`` that reads every number the way TOML does (see _EXPONENT_FLOAT)."""
    import yaml  # PyYAML comes with Ray, in the sweep extra

    class Loader(yaml.SafeLoader):
        pass

    # add_implicit_resolver copies SafeLoader's table into the subclass: SafeLoader is untouched.
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
    return yaml.load(text, Loader=Loader)


def read_file(path: Path, params: dict[str, Param]) -> dict[str, Dimension]:
    """A ``.toml`` or ``.yaml``/``.yml`` file of dimensions (its top-level mapping), UTF-8."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ValueError(f"{path}: a space file ends in .toml, .yaml or .yml")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the space file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the space file is not UTF-8 text (byte "
                         f"0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        mapping = tomllib.loads(text) if suffix == ".toml" else _yaml_loads(text)
    except Exception as exc:  # tomllib and yaml raise their own error types
        raise ValueError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    return from_mapping(mapping, params, str(path))


def number_of_trials(space: dict[str, Dimension], num_samples: int) -> int:
    """The grid product times ``num_samples``."""
    return num_samples * math.prod(len(d.values) for d in space.values() if d.kind == "grid")


def describe(space: dict[str, Dimension]) -> str:
    """One line per dimension, as the command line spells it."""
    def text(value):
        return f"{value:g}" if isinstance(value, float) else str(value)

    return "\n".join(f"  {name} = {text(d.values[0])}" if d.kind == "fixed"
                     else f"  {name} = {d.kind}: {', '.join(map(text, d.values))}"
                     for name, d in space.items())


def from_json(mapping: dict, params: dict[str, Param]) -> dict[str, Dimension]:
    """The inverse of ``{name: dim.to_json()}`` (a saved sweep's space); anything else is a
    ``ValueError`` naming what is wrong."""
    if not isinstance(mapping, dict):
        raise ValueError(f"expected an object of hyperparameters, got {type(mapping).__name__}")
    space = {}
    for name, d in mapping.items():
        if (not isinstance(d, dict) or set(d) != {"kind", "values"}
                or not isinstance(d["kind"], str) or not isinstance(d["values"], list)):
            raise ValueError(f"{name}: expected {{\"kind\": NAME, \"values\": [...]}}, got {d!r}")
        space[name] = check_dimension(name, Dimension(d["kind"], tuple(d["values"])), params)
    return space


def to_tune(space: dict[str, Dimension]) -> dict:
    """Ray Tune's ``param_space`` for these dimensions."""
    from ray import tune

    def convert(d: Dimension):
        if d.kind == "grid":
            return tune.grid_search(list(d.values))
        if d.kind == "choice":
            return tune.choice(list(d.values))
        if d.kind == "loguniform":
            return tune.loguniform(*d.values)
        return d.values[0]

    return {name: convert(d) for name, d in space.items()}
