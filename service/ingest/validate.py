"""validate: an allow-list schema per event; unknown fields reject that event only.

The marshmallow schema is generated from ``rules.EVENT_RULES`` and words
every error. Most events are well formed, so a cheap pass over the same rules
goes first and builds ``Fields`` directly; anything it is unsure about goes
to marshmallow, which decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from service.ingest.event import Context, Dropped, DropReason, Event, Fields, Target
from service.ingest.parse import Unrepresentable
from service.ingest.rules import (
    EVENT_RULES,
    Rule,
    RuleError,
    cross_field_errors,
    fast_check,
)


def _validators(rule: Rule) -> list[Any]:
    out: list[Any] = []
    if rule.min_len is not None or rule.max_len is not None:
        out.append(validate.Length(min=rule.min_len, max=rule.max_len))
    if rule.minimum is not None or rule.maximum is not None:
        out.append(validate.Range(min=rule.minimum, max=rule.maximum))
    if rule.choices is not None:
        out.append(validate.OneOf(rule.choices))
    if rule.pattern is not None:
        out.append(validate.Regexp(rule.pattern))
    if rule.check is not None:
        out.append(_as_marshmallow(rule.check))
    return out


def _as_marshmallow(check: Any) -> Any:
    def run(value: Any) -> None:
        try:
            check(value)
        except RuleError as exc:
            raise ValidationError(str(exc)) from None

    return run


def _json_boolean(value: Any) -> None:
    if type(value) is not bool:
        raise ValidationError("must be true or false")


def _field(rule: Rule) -> fields.Field[Any]:
    kw: dict[str, Any] = {
        "required": rule.required,
        "allow_none": rule.nullable,
        "validate": _validators(rule),
    }
    if rule.default is not None:
        kw["load_default"] = rule.default
    if rule.nested is not None:
        return fields.Nested(_schema_class("TargetSchema", rule.nested, Target), **kw)
    if rule.kind is str:
        return fields.String(**kw)
    if rule.kind is int:
        return fields.Integer(strict=True, **kw)
    if rule.kind is bool:  # JSON true or false only: marshmallow's Boolean takes 1 and "yes"
        return fields.Raw(**{**kw, "validate": [*kw["validate"], _json_boolean]})
    if rule.kind is list:  # one message for the list: a per-item map would be keyed by ints
        return fields.Raw(**kw)
    return fields.Dict(keys=fields.String(), **kw)


def _schema_class(name: str, rules: Mapping[str, Rule], product: type) -> type[Schema]:
    attrs: dict[str, Any] = {name_: _field(rule) for name_, rule in rules.items()}

    class Meta:
        unknown = RAISE

    def make(self: Schema, data: dict[str, Any], **_: Any) -> Any:
        return product(**data)

    attrs["Meta"] = Meta
    attrs["_make"] = post_load(make)
    if product is Fields:

        def cross(self: Schema, data: dict[str, Any], **_: Any) -> None:
            for field_name, messages in cross_field_errors(data).items():
                raise ValidationError(messages, field_name)

        attrs["_cross"] = validates_schema(cross)
    return type(name, (Schema,), attrs)


EventSchema = _schema_class("EventSchema", EVENT_RULES, Fields)
_SCHEMA = EventSchema()
_REQUIRED = tuple(name for name, rule in EVENT_RULES.items() if rule.required)
_DEFAULTS = {name: rule.default for name, rule in EVENT_RULES.items() if rule.default is not None}


def fast_fields(raw: Mapping[str, Any]) -> Fields | None:
    """Fields when every rule certainly holds; None defers to marshmallow."""
    for name in _REQUIRED:
        if name not in raw:
            return None
    for key, value in raw.items():
        rule = EVENT_RULES.get(key)
        if rule is None or not fast_check(value, rule):
            return None
    if cross_field_errors(raw):
        return None
    values = {**_DEFAULTS, **raw}
    target = values.get("target")
    if target is not None:
        values["target"] = Target(**target)
    return Fields(**values)


def load_fields(raw: Any) -> Fields | dict[str, Any]:
    """The validated payload, or marshmallow's field → messages map."""
    if isinstance(raw, Unrepresentable):
        return {"_schema": [Unrepresentable.MESSAGE]}
    if not isinstance(raw, dict):
        return {"_schema": ["each event must be a JSON object"]}
    fast = fast_fields(raw)
    if fast is not None:
        return fast
    try:
        result: Fields = _SCHEMA.load(raw)
    except ValidationError as exc:
        messages = exc.messages
        return (
            named_safely(messages, raw, EVENT_RULES)
            if isinstance(messages, dict)
            else {"_schema": messages}
        )
    return result


UNKNOWN_FIELDS = "_unknown"


def named_safely(
    messages: Mapping[str, Any], raw: Mapping[str, Any], rules: Mapping[str, Rule]
) -> dict[str, Any]:
    """The error messages keyed by the contract's field names only.

    A key the contract does not know is the client's own text (it may be an
    e-mail address) and an error body never echoes what was sent: such keys
    are reported under ``_unknown`` by their position in the event.
    """
    safe: dict[str, Any] = {}
    positions = {key: i for i, key in enumerate(raw)}
    unknown = []
    for key, value in messages.items():
        rule = rules.get(key)
        if rule is None and key != "_schema":
            unknown.append(positions.get(key, -1))
        elif rule is not None and rule.nested is not None and isinstance(value, dict):
            nested_raw = raw.get(key)
            safe[key] = named_safely(
                value, nested_raw if isinstance(nested_raw, dict) else {}, rule.nested
            )
        else:
            safe[key] = value
    if unknown:
        safe[UNKNOWN_FIELDS] = [f"unknown field at position {i}" for i in sorted(unknown)]
    return safe


def validate_event(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: reject this event (not the batch) unless every field passes its rule.

    The pixel and redirect endpoints validate their query parameters with the
    same rules and hand over ``Fields`` already; those pass through.
    """
    result = event.raw if isinstance(event.raw, Fields) else load_fields(event.raw)
    if isinstance(result, Fields):
        return Event(index=event.index, client=event.client, fields=result)
    return Dropped(event.index, DropReason.INVALID, errors=result)
