#!/usr/bin/env python3
"""Writes tests/data/chat/goldens.json: chat templates rendered by transformers' own renderer.

Each case names a template, the inputs (messages, tools, documents, add_generation_prompt,
extra variables, bos/eos tokens) and either the exact text transformers renders or the error
it raises. tests/unit/chat_template_test.cpp renders the same cases with sy::ChatTemplate and
compares byte for byte.

Templates:
  - tests/data/chat/templates/*.jinja: family-style templates written for these tests (Qwen3
    thinking + tools, Mixtral [INST], DeepSeek-V3, GPT-OSS harmony, OLMoE);
  - tests/data/models/*/tokenizer_config.json: the fixture models' templates;
  - BATTERY below: one small template per construct and per error, rendered by jinja2 inside
    transformers' sandboxed environment.

Inputs pass through json.dumps(sort_keys=True) first: sy::ChatTemplateInputs holds
nlohmann::json objects, whose keys are sorted, so both sides see the same dict order. Cases
marked "ordered_inputs" keep request order and are rendered through
sy::OrderedChatTemplateInputs (nlohmann::ordered_json).

Usage: python3 tools/make_chat_goldens.py   (deterministic; rerunning leaves git status clean)

Wider sweeps, not committed: python3 tools/make_chat_goldens.py --random-scale 10 --seed 7 \
  --out /tmp/chat_sweep.json, then SY_CHAT_GOLDENS=/tmp/chat_sweep.json build/bin/chat_template_test
"""
import argparse
import json
import pathlib
import sys

import jinja2
import transformers
from transformers.utils.chat_template_utils import render_jinja_template

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "chat"

# ---------------------------------------------------------------- conversations
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "integer", "description": "Forecast days"},
                "hours": {"type": "array", "items": {"type": "integer"}},
                "tags": {"type": "array", "items": {"type": "string"}},
                "grid": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                "place": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}, "name": {"type": ["string", "null"]}},
                    "required": ["lat", "lon"],
                },
                "mode": {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
                "nickname": {"type": "string", "nullable": True},
            },
            "required": ["city"],
        },
    },
}
CLOCK_TOOL = {
    "type": "function",
    "function": {"name": "now", "description": "Current time — UTC, ISO 8601", "parameters": {"type": "object", "properties": {}}},
}

CONVERSATIONS = {
    "single_user": {"messages": [{"role": "user", "content": "Hello!"}]},
    "system_user": {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "  What is 2+2?  \n"},
        ]
    },
    "multi_turn": {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a joke about\nnewlines."},
        ]
    },
    "system_multi_turn": {
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Bonjour !"},
            {"role": "user", "content": "Ça va ? 日本語 🙂 \"quotes\" \\ back"},
        ]
    },
    "assistant_last": {
        "messages": [
            {"role": "user", "content": "Say yes"},
            {"role": "assistant", "content": "yes"},
        ],
        "add_generation_prompt": False,
    },
    "thinking_history": {
        "messages": [
            {"role": "user", "content": "What is 17*3?"},
            {"role": "assistant", "content": "<think>\n17*3 = 51\n</think>\n\n51"},
            {"role": "user", "content": "And 18*3?"},
        ]
    },
    "reasoning_content": {
        "messages": [
            {"role": "user", "content": "Pick a color"},
            {"role": "assistant", "content": "Blue.", "reasoning_content": "User wants one color."},
        ],
        "add_generation_prompt": False,
    },
    "reasoning_alias": {
        "messages": [
            {"role": "user", "content": "Pick a number"},
            {"role": "assistant", "content": "7", "reasoning": "Lucky number."},
        ],
        "add_generation_prompt": False,
    },
    "tools_call": {
        "messages": [
            {"role": "system", "content": "You can use tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}
                ],
            },
            {"role": "tool", "content": "{\"temp\": 21.5}"},
            {"role": "tool", "content": "sunny"},
        ],
        "tools": [WEATHER_TOOL, CLOCK_TOOL],
    },
    "tools_string_args": {
        "messages": [
            {"role": "user", "content": "Time?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "now", "arguments": "{}"}},
                    {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
                ],
            },
            {"role": "tool", "content": "12:00"},
            {"role": "assistant", "content": "It is noon."},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [CLOCK_TOOL],
    },
    "tools_no_call": {
        "messages": [{"role": "user", "content": "Hi with tools"}],
        "tools": [WEATHER_TOOL],
    },
    "bad_alternation": {
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"},
        ]
    },
    "long_conversation": {
        "messages": [{"role": "system", "content": "Long session."}]
        + [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: " + "word " * (i % 7) + "\n" * (i % 3)}
            for i in range(60)
        ]
    },
    "parts_content": {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image"}]},
        ]
    },
}

# Which conversations each family-style template is rendered with, and its extra variables.
FAMILY_CASES = {
    "qwen3_style": [
        ("single_user", {}),
        ("system_user", {}),
        ("multi_turn", {}),
        ("system_multi_turn", {}),
        ("assistant_last", {}),
        ("thinking_history", {}),
        ("thinking_history", {"enable_thinking": False}),
        ("reasoning_content", {}),
        ("reasoning_alias", {}),
        ("tools_call", {}),
        ("tools_string_args", {}),
        ("tools_no_call", {"enable_thinking": True}),
        ("parts_content", {}),
        ("long_conversation", {}),
    ],
    "mixtral_style": [
        ("single_user", {}),
        ("system_user", {}),
        ("multi_turn", {}),
        ("system_multi_turn", {}),
        ("assistant_last", {}),
        ("bad_alternation", {}),
    ],
    "deepseek_v3_style": [
        ("single_user", {}),
        ("system_multi_turn", {}),
        ("thinking_history", {}),
        ("tools_string_args", {}),
        ("assistant_last", {}),
    ],
    "gpt_oss_style": [
        ("single_user", {}),
        ("system_multi_turn", {"reasoning_effort": "low"}),
        ("tools_call", {"reasoning_effort": "high", "builtin_tools": ["browser", "python"]}),
        ("tools_string_args", {"model_identity": "You are Switchyard's test model."}),
        ("reasoning_content", {}),
        ("assistant_last", {}),
        ("tools_no_call", {}),
        ("long_conversation", {"reasoning_effort": "low"}),
    ],
    "olmoe_style": [
        ("single_user", {}),
        ("system_multi_turn", {}),
        ("assistant_last", {}),
    ],
}
FAMILY_TOKENS = {
    "qwen3_style": (None, "<|im_end|>"),
    "mixtral_style": ("<s>", "</s>"),
    "deepseek_v3_style": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "gpt_oss_style": (None, "<|return|>"),
    "olmoe_style": (None, "<|endoftext|>"),
}
FIXTURE_CONVERSATIONS = ["single_user", "system_user", "multi_turn", "system_multi_turn", "assistant_last"]

# ---------------------------------------------------------------- battery
# (name, template, extra variables). Messages are CONVERSATIONS["multi_turn"] unless given.
BATTERY = [
    # whitespace: trim_blocks, lstrip_blocks, explicit markers, comments, raw, trailing newline
    ("ws_trim_blocks", "{% if true %}\nA\n{% endif %}\nB\n", {}),
    ("ws_lstrip_blocks", "x\n    {% if true %}\n    y\n    {% endif %}\nz", {}),
    ("ws_lstrip_not_var", "x\n    {{ 'v' }}\n", {}),
    ("ws_minus_both", "a   {%- if true -%}   b   {%- endif -%}   c", {}),
    ("ws_var_minus", "a  \n {{- 'b' -}} \n  c", {}),
    ("ws_plus_disables", "a\n  {%+ if true %}b{% endif +%}\nc", {}),
    ("ws_comment", "a\n  {# note #}\nb {#- tight -#} c", {}),
    ("ws_raw", "  {% raw -%}  {{ not parsed }} {% if %}  {%- endraw %}\n!", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("ws_tag_mid_line", "a {% if true %}b{% endif %}\nc", {}),
    # output of values
    ("print_values", "{{ none }}|{{ true }}|{{ false }}|{{ 1 }}|{{ 1.0 }}|{{ 1.5e20 }}|{{ 0.00001 }}|{{ -0.0 }}|{{ [1, 'a', none] }}|{{ {'k': (1, 2)} }}|{{ (1,) }}|{{ 'it\\'s' }}|{{ [\"it's\", 'a\"b'] }}", {}),
    ("print_undefined", "[{{ nope }}][{{ messages[0].nope }}][{{ messages[99] }}]", {}),
    ("string_escapes", "{{ 'a\\tb\\nc\\\\d\\x41\\u00e9\\U0001F600\\q' }}|{{ \"dq\" 'sq' }}", {}),
    # expressions
    ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -3 - -3 }}", {}),
    ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ nope ~ [1] }}", {}),
    ("string_ops", "{{ 'ab' * 3 }} {{ 3 * [0] }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'x' in 'xyz' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 1} }}", {}),
    ("compare_chain", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ none == none }} {{ true == 1 }} {{ 'a' != 'a' }}", {}),
    ("logic", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ none or [] }} {{ '' and 1 }} {{ not nope }}", {}),
    ("ternary", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 1 if none else 2 if true else 3 }}", {}),
    ("slices", "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3][-1] }} {{ 'héllo'[1] }} {{ [1,2,3,4][-3:-1] }} {{ 'abc'[5:] }} {{ [1,2,3][::-2] }} {{ 'hello'[-10:2] }}", {}),
    ("subscripts", "{{ messages[0]['role'] }} {{ messages[0].role }} {{ messages[-1].content[:4] }} {{ {'a': {'b': [10, 20]}}.a.b.1 }}", {}),
    ("literals", "{{ [1, [2, 3], {'a': none}] }} {{ {'x': 1, 'y': 2}|length }} {{ () }} {{ (1, 2)[1] }} {{ 0x1F }} {{ 1_000 }}", {}),
    ("unary", "{{ -3 }} {{ +3 }} {{ -(2 + 3) }} {{ -2 ** 2 }} {{ not true == false }} {{ -[1,-2]|first }}", {}),
    # statements
    ("for_loop_vars", "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem.role if loop.previtem is defined else '-' }}/{{ loop.nextitem.role if loop.nextitem is defined else '-' }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in nope %}x{% else %}undef{% endfor %}", {}),
    ("for_filter", "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content[:2] }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("for_unpack", "{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}", {}),
    ("for_dict_and_string", "{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}|{% for c in 'hé!' %}[{{ c }}]{% endfor %}", {}),
    ("for_nested_loop", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("loop_controls", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("loop_cycle", "{% for i in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("if_elif_else", "{% for n in [1, 2, 3, 4] %}{% if n == 1 %}one{% elif n == 2 %}two{% elif n is even %}even{% else %}other{% endif %} {% endfor %}", {}),
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", {}),
    ("set_in_if_leaks", "{% if true %}{% set y = 'inner' %}{% endif %}{{ y }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = [3, 4] %}{{ c + d }}", {}),
    ("set_block", "{% set body %}\n  Hello {{ messages[0].content }}\n{% endset %}[{{ body }}]{% set t | trim | upper %} pad {% endset %}[{{ t }}]", {}),
    ("namespace", "{% set ns = namespace(count=0, names=[]) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names + [m.role] %}{% endfor %}{{ ns.count }} {{ ns.names }} {{ ns }}", {}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict({'z': 0}, y=1) }}", {}),
    ("macro_defaults", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} [{{ greet() }}]", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(10) }}", {}),
    ("macro_caller", "{% macro box(title) %}[{{ title }}:{{ caller() }}]{% endmacro %}{% call box('t') %}inside {{ messages|length }}{% endcall %}", {}),
    ("macro_caller_args", "{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% endmacro %}{% call(x, n) each(['a', 'b']) %}{{ n }}={{ x }} {% endcall %}", {}),
    ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ messages|length }}{% endmacro %}{{ m() }}", {}),
    ("macro_scoping", "{% macro m1() %}[{{ g }}]{% endmacro %}{% set g = 1 %}{{ m1() }}"
     "{% macro m2() %}[{{ i }}]{% endmacro %}{% for i in [1] %}{{ m2() }}{% endfor %}"
     "{% for i in [1, 2] %}{% macro m3() %}[{{ i }}]{% endmacro %}{{ m3() }}{% endfor %}"
     "{% macro m4() %}{% set g = 2 %}[{{ g }}]{% endmacro %}{{ m4() }}{{ g }}"
     "{% macro m5(a) %}{{ a }}{% set a = 3 %}{{ a }}{% endmacro %}{{ m5(1) }}"
     "{% for x in [1] %}{% set h = 7 %}{% macro m6() %}{{ h }}{% endmacro %}{{ m6() }}{% endfor %}", {}),
    ("macro_default_uses_param", "{% macro m(a, b=a ~ '!') %}{{ a }}{{ b }}{% endmacro %}{{ m('x') }}{{ m('y', 'z') }}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}|{% filter trim|replace('a', 'o') %}  banana  {% endfilter %}", {}),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", {}),
    ("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", {}),
    # filters
    ("f_tojson", "{{ messages[0]|tojson }} {{ {'b': 1, 'a': [1.5, true, none, 'é\"\\n']}|tojson }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }}", {}),
    ("f_tojson_indent", "{{ {'a': [1, {}], 'b': [], 'c': {'d': 'x'}}|tojson(indent=2) }}\n{{ [1, 2]|tojson(indent=4, separators=(',', ':')) }}\n{{ {'a': 1}|tojson(separators=(',', ':')) }}", {}),
    ("f_string_case", "{{ 'hELLo wORLD'|lower }} {{ 'straße'|upper }} {{ 'hello big-world (x)'|title }} {{ 'hELLO'|capitalize }} {{ 'ΣΑΣ'|lower }}", {}),
    ("f_trim_replace", "[{{ '  x \\n'|trim }}][{{ 'xxhixx'|trim('x') }}][{{ 'aaa'|replace('a', 'b', 2) }}][{{ 'ab'|replace('', '-') }}][{{ nope|trim }}]", {}),
    ("f_length_count", "{{ 'héllo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ nope|length }}", {}),
    ("f_join_first_last", "{{ [1, 2, 3]|join(', ') }} {{ ['a', 'b']|join }} {{ messages|join('|', attribute='role') }} {{ [1, 2]|first }} {{ 'abc'|first }} {{ [1, 2]|last }} [{{ []|first }}]", {}),
    ("f_default", "{{ nope|default('dflt') }} {{ none|default('x') }} {{ ''|default('empty', true) }} {{ nope|d('d') }} {{ 0|default(5, boolean=true) }}", {}),
    ("f_items_list", "{% for k, v in {'x': 1, 'y': [2]}|items %}{{ k }}{{ v }}{% endfor %} {{ 'abc'|list }} {{ {'a': 1}|list }} {{ (1, 2)|list }}", {}),
    ("f_selectattr", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ messages|rejectattr('role', 'eq', 'user')|list|length }} {{ messages|selectattr('missing')|list }} {{ messages|selectattr('role', 'in', ['assistant'])|list|length }}", {}),
    ("f_select_map", "{{ [0, 1, 2, 3]|select|list }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('divisibleby', 2)|list }} {{ ['A', 'b']|map('lower')|list }} {{ [{'a': {'b': 1}}, {}]|map(attribute='a.b', default='-')|list }}", {}),
    ("f_generator_consumed", "{% set g = [1, 2, 3]|select %}{{ g|list }}{{ g|list }} {% set h = [1, 2, 3]|select %}{{ h|first }}{{ h|list }} {% set k = [1, 2, 3]|select %}{{ 2 in k }}{{ k|list }} {% set u = messages|map(attribute='role') %}{{ u|join(',') }}|{% for x in u %}{{ x }}{% else %}none{% endfor %} {% set r = [1, 2]|select %}{{ r|reverse|list }}{{ r|list }}", {}),
    ("f_generator_truthy", "{{ 'yes' if []|selectattr('x') else 'no' }} {{ 'yes' if [] else 'no' }}", {}),
    ("f_numbers", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1F'|int(0, 16) }} {{ 3|float }} {{ 'x'|float }} {{ -3|abs }} {{ 2.5|round }} {{ 3.14159|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ 1.005|round(2) }}", {}),
    ("f_string_misc", "{{ 5|string ~ 'x' }} {{ [1]|string }} {{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|safe }} {{ 'one two  three'|wordcount }} [{{ 'ab'|center(6) }}] [{{ 'abc'|center(8) }}]", {}),
    ("f_indent", "[{{ 'a\\nb\\n\\nc'|indent }}] [{{ 'a\\nb'|indent(2, true) }}] [{{ 'a\\n\\nb'|indent(2, blank=true) }}] [{{ 'x\\ny'|indent('> ') }}]", {}),
    ("f_unique_sort", "{{ ['b', 'A', 'a', 'c', 'B']|unique|list }} {{ ['b', 'A', 'a']|unique(case_sensitive=true)|list }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ messages|sort(attribute='role')|map(attribute='role')|join(',') }}", {}),
    ("f_reverse_batch", "{{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }}", {}),
    ("f_dictsort", "{{ {'b': 1, 'A': 3, 'c': 2}|dictsort }} {{ {'b': 1, 'a': 3}|dictsort(by='value') }} {{ {'b': 1, 'a': 3}|dictsort(reverse=true) }}", {}),
    ("f_sum_min_max", "{{ [1, 2, 3]|sum }} {{ [{'n': 2}, {'n': 5}]|sum(attribute='n') }} {{ [3, 1, 2]|min }} {{ ['a', 'B', 'c']|max }} {{ [1.5, 2]|sum(start=10) }}", {}),
    ("f_format_attr", "{{ '%s-%d'|format('a', 3) }} {{ '%s and %r'|format('x', 'y') }} {{ 'a %s' % 'b' }} {{ '%05.1f|%d%%' % (3.14159, 42) }} {{ messages[0]|attr('role') }}", {}),
    # tests
    ("tests_types", "{{ 1 is number }}{{ 1.0 is float }}{{ 1 is integer }}{{ true is integer }}{{ true is boolean }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}{{ 'a' is sequence }}{{ {} is iterable }}{{ 1 is iterable }}{{ none is none }}{{ nope is undefined }}{{ nope is defined }}{{ range is callable }}{{ 'a' is callable }}", {}),
    ("tests_values", "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 2 is in [1, 2] }}{{ 'a' is equalto 'a' }}{{ 1 is eq 2 }}{{ 3 is gt 2 }}{{ 3 is lt 2 }}{{ 3 is ge 3 }}{{ 3 is le 2 }}{{ 3 is ne 2 }}{{ none is sameas none }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'Ab' is lower }}", {}),
    ("tests_negated", "{{ nope is not defined }} {{ 1 is not string }} {{ not 1 is string }} {{ messages is not none }}", {}),
    # string / dict / list methods
    ("m_string", "{{ 'a,b,,c'.split(',') }} {{ 'a b  c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  x  '.strip() }}|{{ 'xxyxx'.lstrip('x') }}|{{ 'xxyxx'.rstrip('x') }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ 'aXa'.replace('a', 'b') }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }}", {}),
    ("m_string_more", "{{ '-'.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'x') }} {{ '{0}{0}{name}'.format('r', name='n') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ '  '.isspace() }} {{ '7'.zfill(3) }} {{ 'é'.upper() }}", {}),
    ("m_dict", "{{ messages[0].keys()|list }} {{ messages[0].values()|list }} {{ messages[0].items()|list }} {{ messages[0].get('role') }} {{ messages[0].get('nope') }} {{ messages[0].get('nope', 'dflt') }} {{ {'a': 1}.copy() }}", {}),
    ("m_list", "{{ [1, 2, 1].count(1) }} {{ ['a', 'b'].index('b') }}", {}),
    ("think_split", "{% set c = messages[1].content %}{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[-1].lstrip('\\n') }}", {"_messages": "thinking_history"}),
    # variables from transformers
    ("vars_builtin", "{{ add_generation_prompt }} {{ tools }} {{ documents }} [{{ bos_token }}] [{{ eos_token }}] {{ enable_thinking is defined }}", {}),
    ("vars_documents", "{% for d in documents %}{{ d.title }}: {{ d.text }}\n{% endfor %}", {"_documents": [{"title": "A", "text": "alpha"}, {"title": "B", "text": "beta"}]}),
    ("vars_extra", "{{ reasoning_effort }} {{ enable_thinking }} {{ custom.nested[1] }}", {"reasoning_effort": "low", "enable_thinking": False, "custom": {"nested": [1, "two"]}}),
    ("strftime_now", "{{ strftime_now('%Y')|length }} {{ strftime_now('%d %b')|length > 4 }}", {}),
    ("range_global", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }}", {}),
    # more edge semantics
    ("undefined_numeric_filters", "{{ nope|sum }} {{ nope|wordcount }} [{{ nope|center(5) }}] {{ nope|batch(2)|list }} {{ nope|unique|list }} [{{ nope|min }}] [{{ nope|capitalize }}]", {}),
    ("err_undefined_int", "{{ nope|int }}", {}),
    ("err_undefined_float", "{{ messages[0].nope|float }}", {}),
    ("err_undefined_indent", "{{ nope|indent }}", {}),
    ("err_undefined_dictsort", "{{ nope|dictsort }}", {}),
    ("err_undefined_abs", "{{ nope|abs }}", {}),
    ("round_ints", "{{ 4|round }} {{ 7|round(1) }} {{ -1|round }} {{ 1250|round(-2) }} {{ 1350|round(-2) }} {{ -1250|round(-2) }} {{ true|round }} {{ 7|round(1, 'ceil') }}", {}),
    ("err_indent_number", "{{ 2.5|indent(2) }}", {}),
    ("undefined_in_filters", "[{{ nope|upper }}][{{ nope|join(',') }}][{{ nope|list }}][{{ nope|first }}][{{ nope|string }}][{{ nope|title }}][{{ nope is sequence }}][{{ nope is iterable }}]", {}),
    ("defined_chains", "{{ messages[0].x is defined }} {{ messages[0].role is defined }} {{ messages[9] is defined }} {{ (messages[0].x or 'd') }} {{ messages[0].get('x') is none }}", {}),
    ("floats", "{{ 0.1 + 0.2 }} {{ 1e-7 }} {{ 123456789.123 }} {{ 1e16 }} {{ 2.5e-5 }} {{ 6 / 3 }} {{ 1e15 }} {{ 10 ** 15 / 1 }} {{ -1.5 }} {{ 3.0 * 2 }} {{ 1 / 3 }} {{ 2 ** 0.5 }} {{ [0.5, 1e100] }} {{ {'f': 1.25}|tojson }}", {}),
    ("bool_arith", "{{ true + 1 }} {{ 'ab' * true }} {{ false * 3 }} {{ true and 'x' }} {{ 3 * 'ab' }}", {}),
    ("trailing_commas", "{{ [1, 2,] }} {{ {'a': 1,} }} {{ (1, 2,) }} {{ dict(a=1,) }}", {}),
    ("conditional_concat", "{{ 'a' ~ ('b' if false) ~ 'c' }} {{ 'x' if nope is defined else 'y' }} {{ none if true else 1 }}", {}),
    ("join_variants", "{{ [1, none, 'x']|join(',') }} {{ {'k1': 1, 'k2': 2}|join('+') }} {{ 'abc'|join('.') }} {{ messages|map(attribute='role')|unique|join('/') }}", {}),
    ("percent_format", "{{ '%s' % none }} {{ '%d items' % 3 }} {{ '%s=%s' % ('a', [1]) }} {{ '%.2f' % 2.345 }} {{ '%5s|%-5s|' % ('r', 'l') }} {{ '%x' if false else '100%%' % () }}", {}),
    ("split_kwargs", "{{ 'a,b,c'.split(',', maxsplit=1) }} {{ 'a b c'.split(maxsplit=1) }} {{ '  a  b  '.rsplit(None, 1) }} {{ 'abc'.split('b')|length }} {{ ''.split(',') }} {{ ''.split() }}", {}),
    ("content_parts", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'text' %}{{ p.text }}{% elif p.type == 'image' %}<img>{% endif %}{% endfor %}{% endif %}{% endfor %}", {"_messages": "parts_content"}),
    ("tool_calls_null", "{% for m in messages %}{{ m.role }}:{{ m.tool_calls is defined }}/{{ m.tool_calls is none }}/{{ m.content is none }};{% endfor %}{{ tools is none }} {{ tools|length }}", {"_messages": "tools_string_args"}),
    ("selectattr_tests", "{{ messages|selectattr('tool_calls', 'defined')|list|length }} {{ messages|selectattr('content', 'none')|list|length }} {{ messages|selectattr('content', 'string')|map(attribute='role')|list }} {{ messages|rejectattr('content')|list|length }}", {"_messages": "tools_string_args"}),
    ("loop_filtered_vars", "{% for m in messages if m.role != 'assistant' %}{{ loop.index }}/{{ loop.length }}/{{ loop.last }}/{{ loop.revindex }} {% endfor %}", {}),
    ("nested_loop_in_macro", "{% macro rows(xs) %}{% for x in xs %}{{ loop.index }}{% for y in x %}{{ loop.index0 }}{{ y }}{% endfor %};{% endfor %}{% endmacro %}{{ rows([[1, 2], [3]]) }}", {}),
    ("macro_returns_string", "{% macro m() %}  x  {% endmacro %}[{{ m()|trim }}][{{ m() + 'y' }}][{{ m()|length }}]", {}),
    ("ws_mixed_controls", "<ul>\n{%- for i in [1, 2] %}\n    <li>{{ i }}</li>\n{%- endfor %}\n</ul>\n{% if true -%}\n   x\n{%- endif %}\n", {}),
    ("ws_tabs_lstrip", "a\n\t \t{% if true %}\n\tb\n\t{% endif %}\n\t{# c #}\nd", {}),
    ("ws_block_at_end", "a\n{% if true %}\nb\n{% endif %}", {}),
    ("ws_var_then_block", "{{ 'x' }}   {% if true %}y{% endif %}\n  {{ 'z' }}  {%- if true %} w{% endif %}", {}),
    ("ws_comment_only_line", "line1\n{# comment #}\nline2\n  {#- c2 -#}  \nline3", {}),
    ("ws_raw_lstrip", "x\n   {% raw %}\n  {{ raw }}\n   {% endraw %}\ny", {}),
    ("unicode_slicing", "{{ '日本語テキスト'[2:4] }} {{ '😀a😀b'|length }} {{ '😀a😀b'[::-1] }} {{ 'héllo'.find('l') }} {{ 'ÉCOLE'|lower }} {{ 'ǆ'|capitalize }} {{ 'straße'.title() }}", {}),
    ("tojson_unicode", "{{ '日本\u2028\x7f\x01😀'|tojson }} {{ '😀\u00e9'|tojson(ensure_ascii=true) }} {{ {'é': ['ü']}|tojson(ensure_ascii=true, indent=1) }}", {}),
    ("string_compare_ops", "{{ 'abc' < 'abd' }} {{ 'B' < 'a' }} {{ 'é' > 'z' }} {{ [1, 'a'] == [1, 'a'] }} {{ (1, 2) == [1, 2] }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }}", {}),
    ("namespace_in_loops", "{% set ns = namespace(found=false, first=none) %}{% for m in messages %}{% if m.role == 'assistant' and not ns.found %}{% set ns.found = true %}{% set ns.first = loop.index0 %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.first }} {{ ns.missing is defined }}", {}),
    ("set_loop_var_outside", "{% for m in messages %}{% set last_role = m.role %}{% endfor %}[{{ last_role }}] {% set count = 0 %}{% for m in messages %}{% set count = count + 1 %}{% endfor %}{{ count }}", {}),
    ("messages_reverse_index", "{% for m in messages[::-1] %}{{ (messages|length - 1) - loop.index0 }}{{ m.role[0] }} {% endfor %}{{ messages[-2:]|map(attribute='role')|join(',') }}", {}),
    ("items_sorted_tools", "{% for k, v in tools[0].function.parameters.properties|dictsort %}{{ k }}:{{ v.type }} {% endfor %}", {"_messages": "tools_call"}),
    ("filter_kwargs_mix", "{{ 'x'|indent(width=3, first=true) }} {{ [3, 1]|sort(reverse=true)|join(',') }} {{ 'abc'|replace(old='b', new='B') }} {{ 7.25|round(precision=1) }}", {}),
    ("int_edge", "{{ 2 ** 62 }} {{ -9223372036854775807 - 1 }} {{ 10 // -3 }} {{ 10 % -3 }} {{ -10 // 3 }} {{ 7.0 // 2 }} {{ -7.5 % 2 }} {{ 0 ** 0 }}", {}),
    ("test_shorthand_args", "{{ 3 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ 1 is sameas 1 }} {{ none is none and true }} {{ 2 is odd or 3 is odd }} {{ [] is not none }}", {}),
    ("long_output_loop", "{% for i in range(300) %}{{ i }},{% endfor %}", {}),
    # errors
    ("err_raise_exception", "{% if messages|length > 1 %}{{ raise_exception('Conversation roles must alternate!') }}{% endif %}", {}),
    ("err_undefined_attr", "{{ messages[0].nope.deeper }}", {}),
    ("err_undefined_add", "{{ nope + 1 }}", {}),
    ("err_undefined_call", "{{ nope() }}", {}),
    ("err_undefined_name_attr", "{{ nope.attr }}", {}),
    ("err_undefined_compare", "{{ nope < 1 }}", {}),
    ("err_type_concat", "{{ 'a' + 1 }}", {}),
    ("err_type_add", "{{ 1 + 'a' }}", {}),
    ("err_zero_division", "{{ 1 / 0 }}", {}),
    ("err_not_iterable", "{% for x in 3 %}{% endfor %}", {}),
    ("err_none_iterable", "{% for x in none %}{% endfor %}", {}),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("err_list_append", "{% set l = [] %}{% set _ = l.append(1) %}", {}),
    ("err_dict_update", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}),
    ("err_dunder", "{{ ''.__class__() }}", {}),
    ("err_namespace_underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("err_set_attr_non_namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("err_macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {}),
    ("err_macro_bad_kwarg", "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", {}),
    ("err_range_too_big", "{{ range(1000000)|length }}", {}),
    ("err_first_empty_used", "{{ ([]|first) + 1 }}", {}),
    ("err_tojson_undefined", "{{ nope|tojson }}", {}),
    ("err_length_generator", "{{ messages|selectattr('role')|length }}", {}),
    ("err_items_non_mapping", "{{ [1]|items|list }}", {}),
    ("err_in_string_int", "{{ 1 in 'abc' }}", {}),
    ("err_int_not_callable", "{{ messages|length() }}", {}),
    # sandbox bounds (jinja2 itself raises RecursionError / memory; we raise a sandbox error)
    ("err_recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}),
    # syntax errors (position checked)
    ("syntax_missing_endif", "line one\n{% if true %}\nno end", {}),
    ("syntax_bad_expression", "a\nb\n{{ 1 + }}", {}),
    ("syntax_unknown_tag", "x\n{% frobnicate %}", {}),
    ("syntax_stray_end", "{% endfor %}", {}),
    ("syntax_unclosed_var", "abc {{ messages", {}),
    ("syntax_unknown_filter", "{% if false %}{{ x|nosuchfilter }}{% endif %}", {}),
    ("syntax_unknown_test", "\n\n{{ x is nosuchtest }}", {}),
    ("syntax_include", "{% include 'other.jinja' %}", {}),
    ("syntax_break_outside", "{% break %}", {}),
    ("syntax_unclosed_string", "{{ 'abc }}", {}),
    ("syntax_filter_missing_name", "{{ x | }}", {}),
]


# ---------------------------------------------------------------- random expressions
# Seeded random expressions over literals, operators, filters, tests, slices and methods: each
# becomes a `{{ ... }}` battery case, so the interpreter is compared with jinja2 on combinations
# nobody wrote by hand. Integers stay small so Python never needs more than 64 bits.
def random_expressions(count, seed=20261122):
    import random

    rng = random.Random(seed)
    strings = ["''", "'a'", "'Hello World'", "' pad '", "'日本'", "'a,b,,c'", "'x\\ny'", "'<think>r</think>c'", "'É'"]
    scalars = ["0", "1", "-2", "7", "2.5", "-0.5", "1e3", "true", "false", "none", "nope"] + strings
    filters = ["length", "lower", "upper", "trim", "first", "last", "list", "string", "int", "float", "abs",
               "tojson", "reverse", "sort", "unique", "title", "capitalize", "join", "join(',')", "default('d')",
               "default('d', true)", "round", "round(1)", "count", "select", "reject", "map('string')", "indent(2)",
               "replace('a', 'b')", "wordcount", "center(9)", "items", "dictsort", "sum", "min", "max", "batch(2)"]
    tests = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "sequence",
             "iterable", "boolean", "true", "false", "even", "odd", "divisibleby(2)", "equalto(1)", "in([1, 'a'])",
             "lower", "upper", "callable", "sameas(none)"]
    methods = ["upper()", "lower()", "strip()", "split(',')", "split()", "startswith('a')", "endswith('d')",
               "replace('l', 'L')", "find('o')", "count('a')", "title()", "capitalize()", "rstrip('d')", "lstrip(' ')"]
    binops = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]

    def expr(depth):
        if depth <= 0:
            return rng.choice(scalars)
        kind = rng.randrange(10)
        if kind == 0:
            return "[" + ", ".join(expr(depth - 1) for _ in range(rng.randrange(4))) + "]"
        if kind == 1:
            keys = rng.sample(["'a'", "'b'", "'k'", "'z'"], rng.randrange(3))
            return "{" + ", ".join(f"{k}: {expr(depth - 1)}" for k in keys) + "}"
        if kind == 2:
            op = rng.choice(binops)
            if op == "**":
                return f"({rng.choice(['2', '3', '-2', '2.5'])} ** {rng.choice(['0', '2', '3', '-1'])})"
            return f"({expr(depth - 1)} {op} {expr(depth - 1)})"
        if kind == 3:
            return f"({expr(depth - 1)})|{rng.choice(filters)}"
        if kind == 4:
            neg = rng.choice(["", "not "])
            return f"(({expr(depth - 1)}) is {neg}{rng.choice(tests)})"
        if kind == 5:
            parts = [rng.choice(["", "-1", "1", "2", "-3", "none"]) for _ in range(2)]
            step = rng.choice(["", ":-1", ":2", ":-2"])
            # `if yes` keeps jinja2 from constant-folding the slice (folding turns a failing slice
            # into Undefined, while a slice evaluated at render time raises).
            return f"(({expr(depth - 1)}) if yes)[{parts[0]}:{parts[1]}{step}]"
        if kind == 6:
            return f"({expr(depth - 1)})[{rng.choice(['0', '-1', '2', chr(39) + 'a' + chr(39)])}]"
        if kind == 7:
            return f"{rng.choice(strings)}.{rng.choice(methods)}"
        if kind == 8:
            return f"({expr(depth - 1)} if {expr(depth - 1)} else {expr(depth - 1)})"
        return rng.choice(["-", "not ", ""]) + f"({expr(depth - 1)})"

    return [(f"random_{i:03d}", "{{ " + expr(rng.randrange(1, 4)) + " }}", {"yes": True}) for i in range(count)]


RANDOM_EXPRESSIONS = 400


# Seeded random templates of text, whitespace and tags with random `-`/`+` markers: whitespace
# handling (trim_blocks, lstrip_blocks, markers) decides most bytes of a prompt.
def random_whitespace_templates(count, seed=7):
    import random

    rng = random.Random(seed)
    texts = ["", " ", "  ", "\n", "\n\n", " \n", "\n  ", "\t", "a", "b c", " x \n", "\n\t y", "z\n   "]

    def open_marker():
        return rng.choice(["", "", "-", "+"])

    def close_marker():
        return rng.choice(["", "", "-", "+"])

    def tag(body):
        return "{%" + open_marker() + " " + body + " " + close_marker() + "%}"

    def node(depth):
        kind = rng.randrange(9 if depth > 0 else 5)
        if kind == 0:
            return rng.choice(texts)
        if kind == 1:
            return "{{" + rng.choice(["", "-"]) + " " + rng.choice(["'v'", "messages|length", "nope", "'\\n'"]) + " " + rng.choice(["", "-"]) + "}}"
        if kind == 2:
            return "{#" + open_marker() + " c " + close_marker() + "#}"
        if kind == 3:
            return tag("set s = 1")
        if kind == 4:
            return rng.choice(texts) + rng.choice(texts)
        if kind == 5:
            cond = rng.choice(["true", "false", "messages"])
            out = tag(f"if {cond}") + body(depth - 1)
            if rng.random() < 0.5:
                out += tag("else") + body(depth - 1)
            return out + tag("endif")
        if kind == 6:
            return tag("for m in messages") + body(depth - 1) + tag("endfor")
        if kind == 7:
            return tag("raw") + rng.choice(texts) + "{{ raw }}" + rng.choice(texts) + tag("endraw")
        return tag("macro w()") + body(depth - 1) + tag("endmacro") + "{{ w() }}"

    def body(depth):
        return "".join(node(depth) for _ in range(rng.randrange(1, 5)))

    return [(f"random_ws_{i:03d}", body(2), {}) for i in range(count)]


RANDOM_WHITESPACE_TEMPLATES = 300


# Seeded random programs: loops over messages with loop variables, namespaces, set/scoping,
# macros with defaults, call blocks, filters and tests on message fields.
def random_programs(count, seed=99):
    import random

    rng = random.Random(seed)
    values = ["m.role", "m.content", "m.content|length", "loop.index", "loop.index0", "loop.revindex", "loop.first",
              "loop.last", "loop.length", "ns.n", "x", "messages|length", "m.get('tool_calls')", "m.content[:3]",
              "m.content.split(' ')[0]", "(m.role == 'user')", "m.role|upper", "loop.previtem.role if loop.previtem is defined else 'none'",
              "ns.seen|join('/')", "m['content']|trim", "w(m.role)", "w(m.role, '!')", "(m.content or '')|wordcount"]
    conds = ["loop.first", "loop.last", "m.role == 'user'", "m.role != 'assistant'", "m.content is string",
             "'a' in m.content", "loop.index is even", "ns.n > 1", "x is defined", "m.tool_calls is defined",
             "not m.content", "m.role in ['system', 'tool']"]

    def out():
        return "{{ " + rng.choice(values) + " }}"

    def stmt(depth):
        kind = rng.randrange(8 if depth > 0 else 4)
        if kind == 0:
            return out()
        if kind == 1:
            return rng.choice(["|", ";", " ", "\n", "<", ">"])
        if kind == 2:
            return "{% set ns.n = ns.n + " + rng.choice(["1", "loop.index", "m.content|length"]) + " %}"
        if kind == 3:
            return "{% set x = " + rng.choice(values) + " %}" + rng.choice(["", "{% set ns.seen = ns.seen + [x|string] %}"])
        if kind == 4:
            text = "{% if " + rng.choice(conds) + " %}" + block(depth - 1)
            if rng.random() < 0.4:
                text += "{% elif " + rng.choice(conds) + " %}" + block(depth - 1)
            if rng.random() < 0.5:
                text += "{% else %}" + block(depth - 1)
            return text + "{% endif %}"
        if kind == 5:
            return "{% call(v) each(m.content) %}[" + rng.choice(["{{ v }}", "{{ v|upper }}", "{{ v }}{{ m.role[0] }}"]) + "]{% endcall %}"
        if kind == 6:
            return "{% if loop.index > 2 %}{% " + rng.choice(["break", "continue"]) + " %}{% endif %}"
        return "{% filter " + rng.choice(["upper", "trim", "replace('a', '4')"]) + " %}" + block(depth - 1) + "{% endfilter %}"

    def block(depth):
        return "".join(stmt(depth) for _ in range(rng.randrange(1, 5)))

    prelude = ("{% macro w(s, suffix='.') %}<{{ s }}{{ suffix }}>{% endmacro %}"
               "{% macro each(text) %}{% for part in (text or '').split()[:2] %}{{ caller(part) }}{% endfor %}{% endmacro %}"
               "{% set ns = namespace(n=0, seen=[]) %}")
    programs = []
    for i in range(count):
        loop_filter = rng.choice(["", " if m.role != 'system'", " if m.content"])
        source = (prelude + "{% for m in messages" + loop_filter + " %}" + block(2) + "{% else %}empty{% endfor %}"
                  + "{{ ns.n }} {{ ns.seen }} [{{ x }}]")
        conv = rng.choice(["multi_turn", "system_multi_turn", "tools_string_args", "thinking_history"])
        programs.append((f"random_program_{i:03d}", source, {"_messages": conv}))
    return programs


RANDOM_PROGRAMS = 200


def sorted_json(value):
    return json.loads(json.dumps(value, sort_keys=True, ensure_ascii=False))


def render_case(template_source, inputs):
    """Renders like apply_chat_template(tokenize=False): {**special_tokens_map, **kwargs}."""
    kwargs = dict(inputs.get("extra", {}))
    for name in ("bos_token", "eos_token"):
        if inputs.get(name):
            kwargs.setdefault(name, inputs[name])
    try:
        rendered, _ = render_jinja_template(
            conversations=[inputs["messages"]],
            tools=inputs.get("tools"),
            documents=inputs.get("documents"),
            chat_template=template_source,
            add_generation_prompt=inputs.get("add_generation_prompt", True),
            **kwargs,
        )
        return {"expected": rendered[0]}
    except Exception as e:  # the golden records what transformers raises
        error = {"type": type(e).__name__, "message": str(e)}
        if isinstance(e, jinja2.TemplateSyntaxError):
            error["line"] = e.lineno
        return {"error": error}


def make_inputs(conversation, extra, bos, eos, keep_order=False):
    inputs = {
        "messages": conversation["messages"],
        "tools": conversation.get("tools"),
        "documents": conversation.get("documents"),
        "add_generation_prompt": conversation.get("add_generation_prompt", True),
        "extra": extra,
        "bos_token": bos or "",
        "eos_token": eos or "",
    }
    return json.loads(json.dumps(inputs)) if keep_order else sorted_json(inputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=DATA / "goldens.json")
    parser.add_argument("--random-scale", type=int, default=1, help="multiply the number of random cases")
    parser.add_argument("--seed", type=int, default=0, help="added to every random generator's seed")
    args = parser.parse_args()
    battery = list(BATTERY)
    battery += random_expressions(RANDOM_EXPRESSIONS * args.random_scale, seed=20261122 + args.seed)
    battery += random_whitespace_templates(RANDOM_WHITESPACE_TEMPLATES * args.random_scale, seed=7 + args.seed)
    battery += random_programs(RANDOM_PROGRAMS * args.random_scale, seed=99 + args.seed)

    templates = {}
    cases = []

    for path in sorted((DATA / "templates").glob("*.jinja")):
        name = path.stem
        templates[name] = path.read_text(encoding="utf-8")
        bos, eos = FAMILY_TOKENS[name]
        for conv_name, extra in FAMILY_CASES[name]:
            inputs = make_inputs(CONVERSATIONS[conv_name], extra, bos, eos)
            suffix = "".join(f"+{k}={v}" for k, v in sorted(extra.items()))
            cases.append({"name": f"{name}/{conv_name}{suffix}", "template": name, "inputs": inputs})
            if CONVERSATIONS[conv_name].get("tools"):
                # The same conversation with keys in request order (sy::OrderedChatTemplateInputs).
                inputs = make_inputs(CONVERSATIONS[conv_name], extra, bos, eos, keep_order=True)
                cases.append({"name": f"{name}/{conv_name}{suffix}+ordered", "template": name, "inputs": inputs,
                              "ordered_inputs": True})

    for config_path in sorted((ROOT / "tests" / "data" / "models").glob("*/tokenizer_config.json")):
        config = json.loads(config_path.read_text(encoding="utf-8"))
        source = config.get("chat_template")
        if not isinstance(source, str) or source in templates.values():
            continue
        name = "fixture_" + config_path.parent.name
        templates[name] = source

        def token(key):
            v = config.get(key)
            return v["content"] if isinstance(v, dict) else v

        for conv_name in FIXTURE_CONVERSATIONS:
            for extra in ({}, {"enable_thinking": False}):
                inputs = make_inputs(CONVERSATIONS[conv_name], extra, token("bos_token"), token("eos_token"))
                suffix = "+enable_thinking=False" if extra else ""
                cases.append({"name": f"{name}/{conv_name}{suffix}", "template": name, "inputs": inputs})

    for name, source, extra in battery:
        extra = dict(extra)
        conversation = dict(CONVERSATIONS[extra.pop("_messages", "multi_turn")])
        if "_documents" in extra:
            conversation["documents"] = extra.pop("_documents")
        templates["battery_" + name] = source
        inputs = make_inputs(conversation, extra, "<s>" if name == "vars_builtin" else None, "</s>" if name == "vars_builtin" else None)
        cases.append({"name": "battery/" + name, "template": "battery_" + name, "inputs": inputs})

    for case in cases:
        case.update(render_case(templates[case["template"]], case["inputs"]))
    # Random cases whose output shows a Python object address (generators, bound methods) are
    # not reproducible text; drop them.
    cases = [c for c in cases if not (c["name"].startswith("battery/random_") and " at 0x" in c.get("expected", ""))]
    templates = {name: source for name, source in templates.items() if any(c["template"] == name for c in cases)}
        # strftime_now depends on the clock; the battery only prints lengths of it.

    out = {
        "generated_by": "tools/make_chat_goldens.py",
        "transformers": transformers.__version__,
        "jinja2": jinja2.__version__,
        "templates": templates,
        "cases": cases,
    }
    path = args.out
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    errors = sum(1 for c in cases if "error" in c)
    print(f"wrote {path}: {len(templates)} templates, {len(cases)} cases ({errors} expected errors)")


if __name__ == "__main__":
    sys.exit(main())
