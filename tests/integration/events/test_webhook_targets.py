"""Pinning a webhook's host to a checked address. The resolver is injected: a public name
that resolves to a private address (DNS rebinding) cannot be set up here, with no DNS
server beyond the machine's own files."""

from __future__ import annotations

import pytest

from service.webhook_targets import RefusedTarget, pin


def resolving_to(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        assert host == "hooks.example.com"
        return list(addresses)

    return resolve


async def test_a_public_name_is_sent_to_the_address_that_was_checked() -> None:
    target = await pin(
        "https://user:pw@hooks.example.com:8443/in?x=1",
        allow_private=False,
        resolve=resolving_to("93.184.215.14"),
    )
    assert target.url == "https://user:pw@93.184.215.14:8443/in?x=1"
    assert target.headers == {"host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}


async def test_an_ipv6_answer_is_bracketed() -> None:
    target = await pin(
        "http://hooks.example.com/in", allow_private=False, resolve=resolving_to("2606:4700::1")
    )
    assert target.url == "http://[2606:4700::1]/in"
    assert target.headers == {"host": "hooks.example.com"} and target.extensions == {}


@pytest.mark.parametrize(
    "answers",
    [("10.1.2.3",), ("93.184.215.14", "127.0.0.1"), ("::ffff:169.254.169.254",), ()],
)
async def test_a_name_with_any_non_public_answer_is_refused(answers: tuple[str, ...]) -> None:
    with pytest.raises(RefusedTarget):
        await pin(
            "http://hooks.example.com/in", allow_private=False, resolve=resolving_to(*answers)
        )


async def test_private_targets_pass_untouched_where_allowed() -> None:
    target = await pin("http://127.0.0.1:9000/hook", allow_private=True)
    assert target.url == "http://127.0.0.1:9000/hook" and target.headers == {}
