"""``create``: a class method on the class, the user's own instance method on instances.

``User.create(name=...)`` builds the key from the props and calls the instance's
``create(**props)``, which commits the creation events. Every ``create`` an aggregate class
defines is wrapped in :class:`create_method` when the class is made; decorating it yourself
changes nothing at run time and tells type checkers the class-level call's signature::

    class User(Aggregate):
        @create_method
        def create(self, name: str) -> User:
            return self.commit({"type": "Created", "name": name})

    user = User.create(name="Ada")  # mypy: (name: str) -> User

On an ``AsyncAggregate`` the instance method is ``async def create(self, ...)`` and the
class-level call is awaited: ``user = await User.create(name="Ada")``. What creating means
(:mod:`ddbes.aggregates._creating`) is written once for both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["create_method"]

A = TypeVar("A")
P = ParamSpec("P")


class create_method(Generic[A, P]):
    """The descriptor behind every aggregate's ``create`` (see the module docstring)."""

    def __init__(self, instance_create: Callable[Concatenate[A, P], A]) -> None:
        self.instance_create = instance_create
        self.__doc__ = instance_create.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Callable[P, A]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any]) -> Callable[P, A]: ...

    def __get__(self, instance: object | None, owner: type[Any]) -> Callable[P, A]:
        if instance is None:
            return functools.partial(owner._create_from_props)
        bound: Callable[P, A] = self.instance_create.__get__(instance, owner)
        return bound
