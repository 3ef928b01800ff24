"""The model worker as a real process serving a tiny random model, driven by the openai client."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from inference_support import WorkerProcess

pytestmark = [pytest.mark.inference, pytest.mark.slow]


@pytest.fixture(scope="module")
def worker(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = WorkerProcess(tiny_model, "tiny", log, batch=4)
    yield proc
    proc.stop()


@pytest.fixture
def client(worker: WorkerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{worker.url}/v1", api_key="unused", max_retries=0)


def test_chat_non_streaming_usage_is_exact(client: openai.OpenAI, tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model), local_files_only=True)
    reply = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hello world"}],
        max_tokens=5,
        temperature=0,
    )
    prompt = len(tok("user: hello world\nassistant:")["input_ids"])
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt, 5)
    assert reply.usage.total_tokens == prompt + 5
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content


def test_streaming_matches_non_streaming(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "the cat sat"}]
    whole = client.chat.completions.create(
        model="tiny",
        messages=messages,
        max_tokens=6,
        temperature=0,  # type: ignore[arg-type]
    )
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=messages,
            max_tokens=6,
            temperature=0,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_text_completion_and_stop_string(client: openai.OpenAI) -> None:
    first = client.completions.create(model="tiny", prompt="the cat", max_tokens=8, temperature=0)
    text = first.choices[0].text
    assert first.usage is not None and first.usage.completion_tokens == 8
    stop = text.split()[2]
    cut = client.completions.create(
        model="tiny", prompt="the cat", max_tokens=8, temperature=0, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in cut.choices[0].text and text.startswith(cut.choices[0].text)
    assert cut.usage is not None and cut.usage.completion_tokens < 8


def test_concurrent_requests_are_batched(client: openai.OpenAI, worker: WorkerProcess) -> None:
    def ask(i: int) -> int:
        r = client.completions.create(model="tiny", prompt="hello " * (i + 1), max_tokens=20)
        assert r.usage is not None
        return r.usage.completion_tokens

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(8))) == [20] * 8
    assert worker.health()["largest_batch"] > 1


def test_prompt_beyond_context_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="tiny", prompt="hello " * 60, max_tokens=10)
    assert info.value.code == "context_length_exceeded"
    assert "maximum context length is 64 tokens" in info.value.message


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "tiny", "messages": [{"content": "x"}]}, 400),
        ({"model": "tiny", "messages": "hi"}, 400),
        ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, 400),
        ({"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404),
        ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "n": 2}, 400),
    ],
)
def test_bad_input_is_4xx_in_openai_format(
    worker: WorkerProcess, body: object, status: int
) -> None:
    r = httpx.post(f"{worker.url}/v1/chat/completions", json=body, timeout=10)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["message"] and error["type"] and error["code"]


def test_continuous_usage_stats_on_every_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="tiny",
            prompt="the cat",
            max_tokens=4,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True, "continuous_usage_stats": True},  # type: ignore[typeddict-unknown-key]
        )
    )
    counts = [c.usage.completion_tokens for c in chunks if c.usage is not None]
    assert counts == sorted(counts) and counts[-1] == 4
    assert all(c.usage is not None for c in chunks)
