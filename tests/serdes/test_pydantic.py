"""pydantic models come back as they were stored: equal, of their own class, with no
validator run again, excluded fields, extra fields and private attributes kept; what
cannot come back so is refused when it is written."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDes, SerDesError, TypeRegistry, ZstdSerDes

REGISTRY = TypeRegistry()
VALIDATED: list[str] = []


@REGISTRY.register
class Inner(pydantic.BaseModel):
    a: int


@REGISTRY.register
class SubInner(Inner):
    b: int


class Unregistered(Inner):
    c: int


@REGISTRY.register
class Outer(pydantic.BaseModel):
    inner: Inner
    items: list[Inner] = []
    anything: Any = None


@REGISTRY.register
class Shout(pydantic.BaseModel):
    text: str

    @pydantic.field_validator("text")
    @classmethod
    def exclaim(cls, value: str) -> str:
        VALIDATED.append(value)
        return value + "!"


@REGISTRY.register
class Account(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow", frozen=True)

    name: str
    password: str = pydantic.Field(exclude=True)
    nickname: str = "none"
    _token: str = pydantic.PrivateAttr(default="unset")
    _seen: list[int] = pydantic.PrivateAttr(default_factory=list)


@REGISTRY.register
class Scores(pydantic.RootModel[dict[str, int]]):
    pass


CODECS: dict[str, SerDes] = {
    "msgpack": MsgpackSerDes(REGISTRY),
    "json": JsonSerDes(REGISTRY),
    "zstd": ZstdSerDes(MsgpackSerDes(REGISTRY), threshold=0),
    "zstd-json": ZstdSerDes(JsonSerDes(REGISTRY), threshold=0),
}


@pytest.fixture(params=list(CODECS))
def codec(request: pytest.FixtureRequest) -> SerDes:
    return CODECS[request.param]


def back(codec: SerDes, value: Any) -> Any:
    data = codec.serialize(value)
    restored = codec.deserialize(data)
    assert serdes.loads(data, registry=REGISTRY) == restored
    return restored


def test_a_subclass_in_a_base_typed_field_stays_the_subclass(codec: SerDes) -> None:
    value = Outer(inner=SubInner(a=1, b=2), items=[Inner(a=3), SubInner(a=4, b=5)])
    restored = back(codec, value)
    assert restored == value
    assert type(restored) is Outer and type(restored.inner) is SubInner
    assert restored.inner.b == 2
    assert [type(x) for x in restored.items] == [Inner, SubInner]


def test_a_registered_class_in_an_any_field_comes_back_as_itself(codec: SerDes) -> None:
    value = Outer(inner=Inner(a=1), anything={"k": [Inner(a=2), Shout(text="x")]})
    restored = back(codec, value)
    assert restored == value
    assert type(restored.anything["k"][0]) is Inner
    assert type(restored.anything["k"][1]) is Shout


def test_validators_do_not_run_again_on_load(codec: SerDes) -> None:
    value = Shout(text="hi")
    assert value.text == "hi!"
    VALIDATED.clear()
    for _ in range(3):
        value = back(codec, value)
    assert value.text == "hi!" and type(value) is Shout
    assert VALIDATED == []


def test_excluded_and_extra_fields_and_private_attributes_are_kept(codec: SerDes) -> None:
    value = Account.model_validate({"name": "ada", "password": "s3cret", "tier": 3})
    value._seen.append(7)
    value._token = "abc"  # frozen, but private attributes may change
    restored = back(codec, value)
    assert restored == value  # pydantic compares fields, extras and private attributes
    assert restored.password == "s3cret"
    assert restored.model_extra == {"tier": 3}
    assert (restored._token, restored._seen) == ("abc", [7])
    assert restored.model_fields_set == {"name", "password", "tier"}
    assert restored.model_dump(exclude_unset=True) == {"name": "ada", "tier": 3}
    with pytest.raises(pydantic.ValidationError):
        restored.name = "other"  # still frozen


def test_a_root_model_and_a_model_without_private_attributes(codec: SerDes) -> None:
    scores = back(codec, Scores({"a": 1}))
    assert scores == Scores({"a": 1}) and type(scores) is Scores
    inner = back(codec, Inner(a=1))
    assert inner == Inner(a=1) and inner.__pydantic_private__ is None


def test_an_unregistered_model_nested_inside_is_refused_at_write(codec: SerDes) -> None:
    with pytest.raises(SerDesError, match=r"Unregistered at \$\.inner: the class is not regis"):
        codec.serialize(Outer(inner=Unregistered(a=1, c=2)))


def test_the_json_form_names_fields_and_only_the_state_there_is() -> None:
    text = JsonSerDes(REGISTRY).serialize(Account(name="ada", password="p"))[4:].decode()
    assert '"v":{"name":"ada","password":"p","nickname":"none","_private":{' in text
    assert '"_set":["name","password"]' in text and "_extra" not in text
    assert JsonSerDes(REGISTRY).serialize(Inner(a=1))[4:] == (
        b'{"$type":"object","class":"tests.serdes.test_pydantic.Inner","v":{"a":1}}'
    )
