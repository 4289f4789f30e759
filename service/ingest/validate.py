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
    if not isinstance(raw, dict):
        return {"_schema": ["each event must be a JSON object"]}
    fast = fast_fields(raw)
    if fast is not None:
        return fast
    try:
        result: Fields = _SCHEMA.load(raw)
    except ValidationError as exc:
        messages = exc.messages
        return messages if isinstance(messages, dict) else {"_schema": messages}
    return result


def validate_event(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: reject this event (not the batch) unless every field passes its rule.

    The pixel and redirect endpoints validate their query parameters with the
    same rules and hand over ``Fields`` already; those pass through.
    """
    result = event.raw if isinstance(event.raw, Fields) else load_fields(event.raw)
    if isinstance(result, Fields):
        return Event(index=event.index, client=event.client, fields=result)
    return Dropped(event.index, DropReason.INVALID, errors=result)
