"""pydantic's validation messages in zh-CN and English, by error ``type`` and its ``ctx``.

Every error type pydantic-core can raise has a Chinese wording here (the test walks
``pydantic_core.core_schema.ErrorType``); English is pydantic's own message. A ``value_error``
raised by one of our validators with :class:`InvalidValue` carries its own :class:`Text`; any
other type (a future pydantic) falls back to a generic wording, never to an empty reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.i18n import Text


class InvalidValue(ValueError):
    """Raise in a pydantic validator: the field's ``reason`` in both languages."""

    def __init__(self, zh: str, en: str) -> None:
        self.text = Text(zh, en)
        super().__init__(en)


#: zh-CN wording per pydantic-core error type; ``{name}`` is taken from the error's ctx.
ZH: dict[str, str] = {
    "no_such_attribute": "对象没有属性 '{attribute}'",
    "json_invalid": "不是有效的 JSON",
    "json_type": "JSON 输入应为字符串或字节",
    "needs_python_object": "无法从 JSON 校验此值",
    "recursion_loop": "数据中有循环引用",
    "recursion_depth_exceeded": "数据嵌套过深",
    "missing": "必填项",
    "frozen_field": "此字段不可修改",
    "frozen_instance": "此对象不可修改",
    "extra_forbidden": "不允许的字段",
    "invalid_key": "键应为字符串",
    "get_attribute_error": "读取属性时出错",
    "model_type": "应为对象（JSON object）",
    "model_attributes_type": "应为可提取字段的对象",
    "dataclass_type": "应为对象（JSON object）",
    "dataclass_exact_type": "应为对象（JSON object）",
    "named_tuple_type": "应为有效的元组",
    "default_factory_not_called": "其他字段有误，无法计算默认值",
    "none_required": "应为空（null）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "finite_number": "应为有限数值",
    "too_short": "至少应有 {min_length} 项，实际 {actual_length} 项",
    "too_long": "至多 {max_length} 项，实际 {actual_length} 项",
    "iterable_type": "应为可迭代的值",
    "iteration_error": "迭代时出错",
    "string_type": "应为字符串",
    "string_unicode": "应为有效的 Unicode 字符串",
    "string_too_short": "至少应有 {min_length} 个字符",
    "string_too_long": "至多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合要求（{pattern}）",
    "string_not_ascii": "只能包含 ASCII 字符",
    "enum": "应为以下取值之一：{expected}",
    "dict_type": "应为对象（JSON object）",
    "frozen_dict_type": "应为对象（JSON object）",
    "ordered_dict_type": "应为对象（JSON object）",
    "counter_type": "应为计数对象",
    "mapping_type": "应为映射（JSON object）",
    "list_type": "应为列表（JSON array）",
    "deque_type": "应为列表（JSON array）",
    "tuple_type": "应为列表（JSON array）",
    "set_type": "应为不重复的列表",
    "set_item_not_hashable": "集合中的元素应可哈希",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值（true/false）",
    "int_type": "应为整数",
    "int_parsing": "应为整数，无法把字符串解析为整数",
    "int_parsing_size": "整数过大，无法解析",
    "int_from_float": "应为整数，不能带小数部分",
    "float_type": "应为数值",
    "float_parsing": "应为数值，无法把字符串解析为数值",
    "bytes_type": "应为字节串",
    "bytes_too_short": "至少应有 {min_length} 个字节",
    "bytes_too_long": "至多 {max_length} 个字节",
    "bytes_invalid_encoding": "不是有效的 {encoding} 编码",
    "value_error": "取值无效",
    "assertion_error": "断言失败",
    "literal_error": "应为以下取值之一：{expected}",
    "missing_sentinel_error": "应为 MISSING 标记",
    "ellipsis_error": "应为省略号（Ellipsis）",
    "date_type": "应为有效的日期",
    "date_parsing": "应为有效的日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为有效的日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "日期不能带时刻",
    "date_past": "日期应早于今天",
    "date_future": "日期应晚于今天",
    "time_type": "应为有效的时刻",
    "time_parsing": "应为有效的时刻（HH:MM[:SS]）",
    "datetime_type": "应为有效的日期时间",
    "datetime_parsing": "应为有效的日期时间（ISO 8601）",
    "datetime_object_invalid": "日期时间无效",
    "datetime_from_date_parsing": "应为有效的日期时间（ISO 8601）",
    "datetime_past": "应为过去的时间",
    "datetime_future": "应为将来的时间",
    "timezone_naive": "不应带时区",
    "timezone_aware": "应带时区（如 +08:00）",
    "timezone_offset": "时区偏移应为 {tz_expected}，实际为 {tz_actual}",
    "time_delta_type": "应为有效的时长",
    "time_delta_parsing": "应为有效的时长（ISO 8601）",
    "frozen_set_type": "应为不重复的列表",
    "is_instance_of": "应为 {class} 类型",
    "is_subclass_of": "应为 {class} 的子类",
    "callable_type": "应为可调用对象",
    "union_tag_invalid": "{discriminator} 的取值 {tag} 无效，应为 {expected_tags} 之一",
    "union_tag_not_found": "缺少用于区分类型的字段 {discriminator}",
    "arguments_type": "参数应为元组、列表或对象",
    "missing_argument": "缺少必需的参数",
    "unexpected_keyword_argument": "不允许的参数",
    "missing_keyword_only_argument": "缺少必需的关键字参数",
    "unexpected_positional_argument": "不允许的位置参数",
    "missing_positional_only_argument": "缺少必需的位置参数",
    "multiple_argument_values": "参数被重复给出",
    "url_type": "应为网址字符串",
    "url_parsing": "不是有效的网址",
    "url_syntax_violation": "网址格式有误",
    "url_too_long": "网址至多 {max_length} 个字符",
    "url_scheme": "网址协议应为 {expected_schemes}",
    "uuid_type": "应为 UUID 字符串",
    "uuid_parsing": "不是有效的 UUID",
    "uuid_version": "应为第 {expected_version} 版 UUID",
    "decimal_type": "应为十进制数",
    "decimal_parsing": "应为有效的十进制数",
    "decimal_max_digits": "总位数至多 {max_digits} 位",
    "decimal_max_places": "小数位数至多 {decimal_places} 位",
    "decimal_whole_digits": "整数部分至多 {whole_digits} 位",
    "fraction_type": "应为分数",
    "fraction_parsing": "不是有效的分数",
    "complex_type": "应为复数",
    "complex_str_parsing": "不是有效的复数字符串",
}

FALLBACK = Text("取值无效", "Invalid value")


class _Ctx(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _ctx_text(value: Any) -> str:
    text = str(value)
    return text.replace(" or ", " 或 ")


def reason_for(error: Mapping[str, Any]) -> Text:
    """The field ``reason`` of one pydantic error (``type``, ``msg``, ``ctx``) in both languages."""
    kind = str(error.get("type", ""))
    en = str(error.get("msg") or FALLBACK.en)
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        inner = ctx.get("error")
        if isinstance(inner, InvalidValue):
            return inner.text
        message = str(inner) if inner is not None else ""
        return Text(f"取值无效：{message}" if message else ZH["value_error"], en)
    template = ZH.get(kind)
    if template is None:
        return Text(FALLBACK.zh, en)
    try:
        zh = template.format_map(_Ctx({k: _ctx_text(v) for k, v in ctx.items()}))
    except (KeyError, IndexError, ValueError):
        zh = template.split("{", 1)[0].rstrip("：（ ") or FALLBACK.zh
    return Text(zh, en)
