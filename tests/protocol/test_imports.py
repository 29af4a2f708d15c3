"""The protocol package's import paths: the messages package re-exports its submodules."""

from __future__ import annotations

from types import ModuleType, UnionType

import pytest

from custom_components.iot_zinx.protocol import messages, registry, server
from custom_components.iot_zinx.protocol.messages import (
    downstream,
    layout,
    replies,
    upstream,
    values,
)

SUBMODULES = (values, layout, upstream, downstream, replies)


def _public(module: ModuleType) -> set[str]:
    """The public names ``module`` defines itself (not those it imports from elsewhere)."""
    # Classes and functions name their home module; constants do not, and a union of
    # messages (a type alias) names "typing".
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and (
            isinstance(value, UnionType)
            or getattr(value, "__module__", module.__name__) == module.__name__
        )
    }


@pytest.mark.parametrize("module", SUBMODULES, ids=lambda module: module.__name__)
def test_messages_reexports_every_public_name(module: ModuleType) -> None:
    missing = _public(module) - set(messages.__all__)
    assert not missing, f"{module.__name__} defines {sorted(missing)}, not in messages.__all__"
    for name in _public(module):
        assert getattr(messages, name) is getattr(module, name)


def test_messages_all_names_exist() -> None:
    for name in messages.__all__:
        assert hasattr(messages, name), name


def test_server_exports_the_registry_value_types() -> None:
    for name in set(server.__all__) - {"DnyServer"}:
        assert getattr(server, name) is getattr(registry, name)
