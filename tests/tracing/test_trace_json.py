import json

from stepladder.tracing.trace_json import chat_of, jsonable


def test_genai_parts_become_plain_messages() -> None:
    sent = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rain"}]},
    ]
    done = [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Rain."},
                {"type": "text", "content": "Take an umbrella."},
            ],
            "finish_reason": "stop",
        }
    ]
    chat = chat_of(
        {
            "gen_ai.input.messages": json.dumps(sent),
            "gen_ai.output.messages": json.dumps(done),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        }
    )
    assert chat is not None
    assert [(m["role"], m["content"]) for m in chat["input"]] == [
        ("system", "Be brief."),
        ("user", "Weather in Paris?"),
        ("assistant", '[tool call] weather({"city": "Paris"})'),
        ("tool", "[tool response] rain"),
    ]
    assert chat["output"] == [
        {"role": "assistant", "content": "Rain.\n\nTake an umbrella.", "finish_reason": "stop"}
    ]


def test_the_older_role_content_form_is_read_too() -> None:
    chat = chat_of(
        {
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
            ),
            "gen_ai.output.messages": [{"role": "assistant", "content": "Hello"}],
        }
    )
    assert chat == {
        "input": [{"role": "user", "content": "Hi", "finish_reason": None}],
        "output": [{"role": "assistant", "content": "Hello", "finish_reason": None}],
    }


def test_no_messages_or_unreadable_ones_are_none() -> None:
    assert chat_of({}) is None
    assert chat_of({"gen_ai.input.messages": "{not json"}) is None
    only_sent = chat_of({"gen_ai.input.messages": '[{"role": "user", "parts": []}, 3]'})
    assert only_sent == {
        "input": [{"role": "user", "content": "", "finish_reason": None}],
        "output": [],
    }


def test_values_json_rejects_become_strings() -> None:
    assert jsonable({"a": [float("inf"), 1.5], "b": (float("nan"),)}) == {
        "a": ["inf", 1.5],
        "b": ["nan"],
    }
