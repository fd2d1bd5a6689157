"""Which webhook URLs may be set: public addresses, or anything where private ones are
allowed. (Resolving at delivery time: tests/integration/events/test_webhook_targets.py.)"""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from service.webhook_targets import check_url, is_public


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3500/v1.0/invoke",
        "https://api.localhost./hook",
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_a_url_naming_a_non_public_address_is_refused(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_url(url, allow_private=False)
    assert [e.field for e in refused.value.errors] == ["url"]


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/t", "https://93.184.215.14/t", "http://[2606:4700::1]/"]
)
def test_a_public_address_or_any_name_may_be_set(url: str) -> None:
    check_url(url, allow_private=False)


def test_private_targets_may_be_set_where_allowed() -> None:
    check_url("http://127.0.0.1:9000/hook", allow_private=True)


def test_an_ipv4_mapped_loopback_is_not_public() -> None:
    assert not is_public("::ffff:127.0.0.1")
    assert is_public("::ffff:93.184.215.14")
